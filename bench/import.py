"""Bulk import benchmark: a 1,000,000-row JSONL file through the HTTP endpoint, into PostgreSQL
and into SQLite, against a naive baseline (one ORM create() per row) measured in the same run.

    .venv/bin/python bench/import.py [--rows 1000000] [--naive-rows 20000] [--backends postgresql,sqlite]

Prints rows/s end to end (upload start to job finished), the same for a re-import of the same
file (every row already there), the peak RSS of the web and worker processes, and the ratios.
Targets on a 2-core machine: >= 30,000 rows/s on PostgreSQL, >= 20,000 on SQLite, RSS < 400 MB,
re-import at least as fast.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.datagen import write_jsonl
from bench.harness import Service, run_django, running_service

NAIVE_SCRIPT = """
import json, time
from django.contrib.auth.models import User
from curation.models import Example, Project
from curation.services.content import content_hash
project, user = Project.objects.get(pk={project}), User.objects.get(username="admin")
with open({path!r}) as handle:
    rows = [json.loads(line) for _, line in zip(range({rows}), handle)]
start = time.perf_counter()
for row in rows:
    Example.objects.create(
        project=project, input=row["input"], output=row["output"], metadata=row["metadata"],
        content_hash=content_hash(row["input"], row["output"]), created_by=user, updated_by=user,
    )
print(len(rows) / (time.perf_counter() - start))
"""


def new_project(service: Service, name: str) -> int:
    body = {"name": name, "task_type": "generation", "target_behavior": "Answer banking questions."}
    return int(service.api("POST", "/api/projects/", body)["id"])


def timed_import(service: Service, project: int, path: Path) -> tuple[float, dict[str, object]]:
    start = time.perf_counter()
    job = service.upload(f"/api/projects/{project}/imports/", path, format="jsonl")
    uploaded = time.perf_counter()
    job = service.wait_for_job(f"/api/imports/{job['id']}/")
    elapsed = time.perf_counter() - start
    if job["status"] != "succeeded":
        raise RuntimeError(f"import failed: {job['error']}")
    print(
        f"    upload {uploaded - start:.1f} s, then the job {elapsed - (uploaded - start):.1f} s", flush=True
    )
    return elapsed, job


def bench_backend(backend: str, path: Path, rows: int, naive_rows: int) -> dict[str, float]:
    with running_service(backend) as service:
        project = new_project(service, "bench import")
        print(f"[{backend}] importing {rows:,} rows ...", flush=True)
        first, job = timed_import(service, project, path)
        assert job["created"] == rows, job
        print(f"[{backend}] re-importing the same file ...", flush=True)
        again, job = timed_import(service, project, path)
        assert job["created"] == 0 and job["skipped_existing"] == rows, job
        print(f"[{backend}] naive baseline on {naive_rows:,} rows ...", flush=True)
        naive_project = new_project(service, "bench naive")
        naive = float(
            run_django(
                service.env, NAIVE_SCRIPT.format(project=naive_project, path=str(path), rows=naive_rows)
            )
        )
        return {
            "rows_per_s": rows / first,
            "seconds": first,
            "reimport_rows_per_s": rows / again,
            "naive_rows_per_s": naive,
            "web_rss_mb": service.peak_rss_mb("web"),
            "worker_rss_mb": service.peak_rss_mb("worker"),
        }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--naive-rows", type=int, default=20_000)
    parser.add_argument("--backends", default="postgresql,sqlite")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "examples.jsonl"
        size = write_jsonl(path, args.rows)
        print(f"generated {args.rows:,} rows, {size / 1e6:.0f} MB", flush=True)
        results = {
            backend: bench_backend(backend, path, args.rows, args.naive_rows)
            for backend in args.backends.split(",")
        }
    print(
        f"\n{'backend':<11} {'rows/s':>9} {'seconds':>8} {'re-import rows/s':>17} {'naive rows/s':>13} {'speedup':>8} {'web MB':>7} {'worker MB':>10}"
    )
    for backend, r in results.items():
        print(
            f"{backend:<11} {r['rows_per_s']:>9,.0f} {r['seconds']:>8.1f} {r['reimport_rows_per_s']:>17,.0f}"
            f" {r['naive_rows_per_s']:>13,.0f} {r['rows_per_s'] / r['naive_rows_per_s']:>7.1f}x"
            f" {r['web_rss_mb']:>7.0f} {r['worker_rss_mb']:>10.0f}"
        )


if __name__ == "__main__":
    main()
