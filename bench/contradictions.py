"""Contradiction job benchmark: 100,000 classification examples on a running service, with
planted contradictions (a near-identical input labeled with another intent), in one run.

    .venv/bin/python bench/contradictions.py [--rows 100000] [--backend postgresql]

Texts: bench/corpus.py customer messages (20 to 400 characters), each labeled with a banking77
intent; 1% of them get a planted contradiction: the same text with a small edit (case,
punctuation, a typo, a filler word) and another intent. Prints the job's time (API request to
flags raised) and the share of planted contradictions flagged. Target (issue 5): under 2 minutes.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.corpus import near_duplicate, text
from bench.harness import run_django, running_service
from bench.public_data import banking77_labels

FLAGS_SCRIPT = """
import json
from curation.models import Flag
pairs = [sorted(flag.memberships.values_list("example__external_id", flat=True)) for flag in
         Flag.objects.filter(project_id={project}, kind="contradiction").prefetch_related("memberships")]
print(json.dumps(pairs))
"""


def labeled_rows(count: int, seed: int = 0) -> tuple[list[dict[str, str]], set[tuple[str, str]]]:
    rng = random.Random(seed)
    labels = banking77_labels()
    planted_count = count // 100
    rows: list[dict[str, str]] = []
    seen: set[str] = set()
    while len(rows) < count - planted_count:
        item = text(rng)
        if item not in seen:
            seen.add(item)
            rows.append({"id": f"r{len(rows)}", "input": item, "output": rng.choice(labels)})
    planted: set[tuple[str, str]] = set()
    for source in rng.sample(range(len(rows)), planted_count):
        original = rows[source]
        other = rng.choice([label for label in labels if label != original["output"]])
        copy = {"id": f"c{source}", "input": near_duplicate(rng, original["input"]), "output": other}
        rows.append(copy)
        first, second = sorted((original["id"], copy["id"]))
        planted.add((first, second))
    return rows, planted


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--backend", default="postgresql", choices=["postgresql", "sqlite"])
    args = parser.parse_args()
    rows, planted = labeled_rows(args.rows)
    labels = banking77_labels()
    with running_service(args.backend) as service:
        body = {
            "name": "contradictions",
            "task_type": "classification",
            "target_behavior": "Route.",
            "labels": labels,
        }
        project = int(service.api("POST", "/api/projects/", body)["id"])
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "rows.jsonl"
            path.write_text("".join(json.dumps(row) + "\n" for row in rows))
            job = service.upload(
                f"/api/projects/{project}/imports/", path, format="jsonl", status="submitted"
            )
        imported = service.wait_for_job(f"/api/imports/{job['id']}/")
        assert imported["status"] == "succeeded" and imported["created"] == len(rows), imported
        start = time.perf_counter()
        job = service.api("POST", f"/api/projects/{project}/contradiction-jobs/", {"threshold": 0.8})
        job = service.wait_for_job(f"/api/contradiction-jobs/{job['id']}/")
        elapsed = time.perf_counter() - start
        assert job["status"] == "succeeded", job
        flagged = {
            tuple(pair) for pair in json.loads(run_django(service.env, FLAGS_SCRIPT.format(project=project)))
        }
    found = len(planted & flagged)
    print(
        f"\ncontradiction job on {len(rows):,} examples: {elapsed:.1f} s ({len(rows) / elapsed:,.0f} examples/s)"
    )
    print(
        f"flags raised {job['flags_raised']:,}; planted contradictions flagged {found:,} of {len(planted):,}"
        f" (recall {found / len(planted):.4f})"
    )


if __name__ == "__main__":
    main()
