"""Freeze benchmark: a version of 1,000,000 approved examples frozen and both splits exported,
on a running service, against a per-row ORM copy measured in the same run.

    .venv/bin/python bench/freeze.py [--rows 1000000] [--orm-rows 20000] [--backend postgresql]

Data: bench/corpus.py texts (20 to 400 characters) with one of 20 labels each, imported as
approved into a classification project (not timed). Timed: the API request to freeze
(eval share 0.1, so stratified by label) until the version is frozen (read, group, split, the
set-based copy, leakage by exact and n-gram match, the data card, the sha256 of the canonical
export), then both splits downloaded as JSONL. The embedding leakage measure is skipped at this
size unless the embedding cache holds the texts (FINCH_LEAKAGE_EMBED_LIMIT), as the output says.
Baseline: the copy done per row through the ORM (VersionItem.objects.create for each example),
on --orm-rows examples, in rows/s, against the freeze's copy rate.
Target (issue 6): freeze and export 1,000,000 examples in under 60 s on PostgreSQL.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.corpus import text
from bench.harness import Service, run_django, running_service

LABELS = [f"intent_{number:02d}" for number in range(20)]

ORM_COPY = """
import json, time
from curation.models import DatasetVersion, Example, VersionItem
project = {project}
version = DatasetVersion.objects.create(project_id=project, number=999, eval_fraction=0.1, name="orm baseline")
rows = list(Example.objects.filter(project_id=project).order_by("id")[:{rows}])
start = time.perf_counter()
for example in rows:
    VersionItem.objects.create(
        version=version, example_id=example.pk, split="train", input=example.input, output=example.output,
        metadata=example.metadata, external_id=example.external_id, source=example.source,
        content_hash=example.content_hash,
    )
seconds = time.perf_counter() - start
VersionItem.objects.filter(version=version).delete()
version.delete()
print(json.dumps({{"rows": len(rows), "seconds": seconds}}))
"""

COPY_SECONDS = """
import json
from curation.models import DatasetVersion
version = DatasetVersion.objects.get(pk={version})
print(json.dumps(version.manifest.get("timings", {{}})))
"""


def texts_and_labels(count: int, seed: int = 0) -> tuple[list[str], list[str]]:
    rng = random.Random(seed)
    seen: set[str] = set()
    texts: list[str] = []
    while len(texts) < count:
        candidate = text(rng, 20, 400)
        if candidate not in seen:
            seen.add(candidate)
            texts.append(candidate)
    return texts, [rng.choice(LABELS) for _ in texts]


def download(service: Service, path: str) -> int:
    request = urllib.request.Request(service.base_url + path)
    request.add_header("Authorization", f"Token {service.token}")
    size = 0
    with urllib.request.urlopen(request, timeout=900) as response:
        while chunk := response.read(1 << 20):
            size += len(chunk)
    return size


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--orm-rows", type=int, default=20_000)
    parser.add_argument("--backend", default="postgresql", choices=["postgresql", "sqlite"])
    args = parser.parse_args()
    texts, labels = texts_and_labels(args.rows)
    with running_service(args.backend) as service:
        body = {
            "name": "freeze bench",
            "task_type": "classification",
            "target_behavior": "Label.",
            "labels": LABELS,
        }
        project = int(service.api("POST", "/api/projects/", body)["id"])
        service.import_texts(project, texts, labels, status="approved")

        start = time.perf_counter()
        version = service.api("POST", f"/api/projects/{project}/versions/", {"eval_fraction": 0.1})
        version = service.wait_for_job(f"/api/versions/{version['id']}/")
        frozen_s = time.perf_counter() - start
        assert version["status"] == "frozen", version
        sizes = {
            split: download(service, f"/api/versions/{version['id']}/export/?split={split}&format=jsonl")
            for split in ("train", "eval")
        }
        total_s = time.perf_counter() - start
        timings = json.loads(run_django(service.env, COPY_SECONDS.format(version=version["id"])))
        baseline = json.loads(run_django(service.env, ORM_COPY.format(project=project, rows=args.orm_rows)))

    export_s = total_s - frozen_s
    copy_rate = args.rows / timings["copy"] if timings.get("copy") else float("nan")
    orm_rate = baseline["rows"] / baseline["seconds"]
    print(f"\n{'step':<52} {'rows':>10} {'seconds':>8} {'rows/s':>10}")
    print(
        f"{'freeze (API request to frozen)':<52} {args.rows:>10,} {frozen_s:>8.1f} {args.rows / frozen_s:>10,.0f}"
    )
    for step, seconds in timings.items():
        print(f"{'  of which ' + step:<52} {'':>10} {seconds:>8.1f}")
    print(
        f"{'export train + eval (JSONL download)':<52} {args.rows:>10,} {export_s:>8.1f} {args.rows / export_s:>10,.0f}"
    )
    print(f"{'freeze + export':<52} {args.rows:>10,} {total_s:>8.1f}")
    print(
        f"{'per-row ORM copy (baseline)':<52} {baseline['rows']:>10,} {baseline['seconds']:>8.1f} {orm_rate:>10,.0f}"
    )
    print(
        f"\nset-based copy {copy_rate:,.0f} rows/s vs per-row ORM {orm_rate:,.0f} rows/s: {copy_rate / orm_rate:.0f}x"
    )
    print(
        f"split {version['counts']}; exported {sum(sizes.values()) / 1e6:,.0f} MB; sha256 {version['sha256'][:16]}"
    )
    print(f"leakage {json.dumps(version['leakage']['methods'])}")
    print(f"target: freeze + export under 60 s: {'met' if total_s < 60 else 'NOT met'}")


if __name__ == "__main__":
    main()
