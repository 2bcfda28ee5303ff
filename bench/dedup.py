"""MinHash dedup speed: a dedup job end to end (read from the database, shingle, hash, LSH,
verify, write marks) against the datasketch reference pipeline on the same texts, in one run.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/finch_bench_dedup .venv/bin/python bench/dedup.py [--rows 100000]

The reference: MinHash.generator -> LeanMinHash -> MinHashLSH(threshold, num_perm) with an
insertion session, a query for every document, union-find; it runs on --reference-rows
documents and its docs/s is compared with the job's. Targets (issue 5): 1,000,000 examples in
under 60 s, at least 5x the reference's docs/s.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/finch_bench_dedup"
THRESHOLD, NUM_PERM = 0.8, 128


def fresh_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    admin = ["psql", "-q", "-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-c"]
    subprocess.run([*admin, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"], check=True)
    subprocess.run([*admin, f"CREATE DATABASE {name}"], check=True)


def texts_with_duplicates(count: int, seed: int = 0) -> list[str]:
    """Distinct sentences, then about 5% near-duplicates of them (a filler word added)."""
    from bench.datagen import sentence

    rng = random.Random(seed)
    originals = [f"{index} {sentence(rng)}" for index in range(int(count * 0.95))]
    copies = [f"please {rng.choice(originals)}" for _ in range(count - len(originals))]
    return originals + copies


def reference_docs_per_s(texts: list[str]) -> float:
    from datasketch import LeanMinHash, MinHash, MinHashLSH

    from curation.dedup.normalize import exact_key
    from curation.dedup.unionfind import groups

    start = time.perf_counter()
    shingled = []
    for text in texts:
        key = exact_key(text)
        shingled.append([key[i : i + 5].encode() for i in range(max(len(key) - 4, 1))])
    sketches = [LeanMinHash(sketch) for sketch in MinHash.generator(shingled, num_perm=NUM_PERM)]
    lsh = MinHashLSH(threshold=THRESHOLD, num_perm=NUM_PERM)
    with lsh.insertion_session() as session:
        for index, sketch in enumerate(sketches):
            session.insert(index, sketch)
    pairs = [
        (index, other)
        for index, sketch in enumerate(sketches)
        for other in lsh.query(sketch)
        if other != index
    ]
    groups(pairs)
    return len(texts) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--reference-rows", type=int, default=20_000)
    args = parser.parse_args()
    os.environ.setdefault("DATABASE_URL", DEFAULT_URL)
    os.environ.setdefault("FINCH_HOME", tempfile.mkdtemp(prefix="finch-bench-dedup-"))
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.local"
    if os.environ["DATABASE_URL"].startswith("postgres"):
        fresh_database(os.environ["DATABASE_URL"])
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    run(args.rows, args.reference_rows)


def run(rows: int, reference_rows: int) -> None:
    import json

    from django.contrib.auth.models import User

    from curation.models import DedupJob, ImportJob
    from curation.services.dedup import dedup_run
    from curation.services.imports import import_job_create, import_run
    from curation.services.jobs import job_run
    from curation.services.projects import project_create

    texts = texts_with_duplicates(rows)
    user = User.objects.create_user("bench")
    project = project_create(user=user, name="bench dedup", task_type="generation", target_behavior="Answer.")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "rows.jsonl"
        path.write_text("".join(json.dumps({"input": text, "output": "ok"}) + "\n" for text in texts))
        with path.open("rb") as upload:
            job = import_job_create(
                project=project, user=user, upload=upload, filename=path.name, status="submitted", queue=False
            )
        job_run(ImportJob, job.pk, import_run)
    start = time.perf_counter()
    dedup = DedupJob.objects.create(project=project, created_by=user, method="minhash", threshold=THRESHOLD)
    job_run(DedupJob, dedup.pk, dedup_run)
    elapsed = time.perf_counter() - start
    dedup.refresh_from_db()
    assert dedup.status == "succeeded", dedup.error
    ours = rows / elapsed
    reference = reference_docs_per_s(texts[:reference_rows])
    print(f"\n{'pipeline':<44} {'docs':>9} {'seconds':>8} {'docs/s':>9}")
    print(f"{'Finch minhash job (DB read to marks written)':<44} {rows:>9,} {elapsed:>8.1f} {ours:>9,.0f}")
    print(
        f"{'datasketch reference (in memory)':<44} {reference_rows:>9,} {reference_rows / reference:>8.1f} {reference:>9,.0f}"
    )
    print(
        f"\nspeedup {ours / reference:.1f}x; clusters {dedup.clusters:,}, marked {dedup.duplicates_marked:,}"
    )


if __name__ == "__main__":
    main()
