"""Bulk import benchmark: a 1,000,000-row JSONL file through the HTTP endpoint, into PostgreSQL
and into SQLite, against a naive baseline (one ORM create() per row) measured in the same run.

    .venv/bin/python bench/import.py [--rows 1000000] [--naive-rows 20000] [--backends postgresql,sqlite]
        [--long-line-mb 500] [--skip-rate] [--port 8765] [--label-studio-rows N] [--parquet]

Prints rows/s end to end (upload start to job finished), the same for a re-import of the same
file (every row already there), the peak RSS of the web and worker processes, and the ratios.
On PostgreSQL also the seconds the worker then takes to put the rows into the text search's
trigram indexes (searches find them meanwhile: curation/search.py); the re-import waits for it.
Targets on a 2-core machine: >= 30,000 rows/s on PostgreSQL, >= 20,000 on SQLite, RSS < 400 MB,
re-import at least as fast. Then Label Studio imports the same file's rows as JSON lists
(--label-studio-rows, default all; 200,000 rows a request, under its 250 MB request limit;
bench/label_studio.py installs it into a venv of its own on first use), and the ratio is printed.

Then, beside the rate, the worker's peak RSS (VmHWM) for a JSONL file holding one line of
--long-line-mb MB between two ordinary rows, in a fresh worker, against the same worker's peak
after an ordinary 1,000-row import (the baseline). Target: under 300 MB, the long line a row
error (FINCH_MAX_ROW_BYTES) and both other rows imported; the upload deleted afterwards.

With --parquet, each backend also imports the same rows written as one Parquet file (pyarrow's
defaults), into a project of their own, and the rate is printed beside the JSONL file's.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, cast

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import label_studio
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


def timed_import(
    service: Service, project: int, path: Path, file_format: str = "jsonl"
) -> tuple[float, dict[str, object]]:
    start = time.perf_counter()
    job = service.upload(f"/api/projects/{project}/imports/", path, format=file_format)
    uploaded = time.perf_counter()
    job = service.wait_for_job(f"/api/imports/{job['id']}/")
    elapsed = time.perf_counter() - start
    if job["status"] != "succeeded":
        raise RuntimeError(f"import failed: {job['error']}")
    print(
        f"    upload {uploaded - start:.1f} s, then the job {elapsed - (uploaded - start):.1f} s", flush=True
    )
    return elapsed, job


def bench_backend(
    backend: str, path: Path, rows: int, naive_rows: int, port: int, parquet: Path | None
) -> dict[str, float]:
    with running_service(backend, port=port) as service:
        project = new_project(service, "bench import")
        print(f"[{backend}] importing {rows:,} rows ...", flush=True)
        first, job = timed_import(service, project, path)
        assert job["created"] == rows, job
        backlog = backlog_seconds(service, project) if backend == "postgresql" else 0.0
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
        parquet_seconds = parquet_import_seconds(service, parquet, rows) if parquet else 0.0
        return {
            "rows_per_s": rows / first,
            "seconds": first,
            "parquet_seconds": parquet_seconds,
            "reimport_rows_per_s": rows / again,
            "backlog_s": backlog,
            "naive_rows_per_s": naive,
            "web_rss_mb": service.peak_rss_mb("web"),
            "worker_rss_mb": service.peak_rss_mb("worker"),
        }


def parquet_import_seconds(service: Service, parquet: Path, rows: int) -> float:
    """The same rows as a Parquet file, into a project of their own."""
    print(f"    importing the same rows as Parquet ({parquet.stat().st_size / 1e6:.0f} MB) ...", flush=True)
    seconds, job = timed_import(service, new_project(service, "bench parquet"), parquet, "parquet")
    assert job["created"] == rows and job["detected_format"] == "parquet", job
    return seconds


def write_parquet(jsonl: Path, parquet: Path) -> None:
    """The JSONL file's rows as Parquet, as pandas or `datasets` would write them (row groups of
    pyarrow's default size, its default compression)."""
    import pyarrow.json
    import pyarrow.parquet as pq

    pq.write_table(pyarrow.json.read_json(jsonl), parquet)


def backlog_seconds(service: Service, project: int) -> float:
    """Seconds after the import until the worker has put every imported row into the text
    search's trigram indexes (curation/search.py; searches find the rows meanwhile)."""
    import psycopg

    start = time.perf_counter()
    with psycopg.connect(service.env["DATABASE_URL"], autocommit=True) as connection:
        query = "SELECT EXISTS (SELECT 1 FROM curation_example WHERE project_id = %s AND NOT search_indexed)"
        while connection.execute(query, [project]).fetchone() == (True,):
            time.sleep(2)
    seconds = time.perf_counter() - start
    print(f"    the search index took the rows in {seconds:.1f} s more, in the background", flush=True)
    return seconds


LONG_LINE_TARGET_MB = 300


def cpu_note() -> str:
    """The CPU's model and the vector extensions the figures depend on, from /proc/cpuinfo."""
    info = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    model = next(
        (line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name")), "?"
    )
    flags = next(
        (line.split(":", 1)[1].split() for line in info.splitlines() if line.startswith("flags")), []
    )
    wanted = [flag for flag in flags if flag in ("sse4_2", "avx", "avx2", "avx512f", "avx512_vnni")]
    return f"cpu: {model}; flags: {' '.join(wanted) or 'none of sse4_2/avx*'}"


def write_long_line(path: Path, megabytes: int) -> int:
    """A JSONL file: an ordinary row, one line of `megabytes` MB, another ordinary row."""
    chunk = "x" * (1 << 20)
    with path.open("w", encoding="utf-8") as handle:
        handle.write(json.dumps({"input": "the row before", "output": "ok"}) + "\n")
        handle.write('{"input": "')
        for _ in range(megabytes):
            handle.write(chunk)
        handle.write('", "output": "ok"}\n')
        handle.write(json.dumps({"input": "the row after", "output": "ok"}) + "\n")
    return path.stat().st_size


def uploads_left(service: Service) -> int:
    folder = Path(service.env["FINCH_HOME"]) / "media" / "imports"
    return sum(1 for path in folder.rglob("*") if path.is_file()) if folder.exists() else 0


def bench_long_line(backend: str, path: Path, small: Path, port: int) -> dict[str, float]:
    """The worker's peak memory for the long line, against its peak after an ordinary import."""
    with running_service(backend, port=port) as service:
        project = new_project(service, "bench long line")
        print(f"[{backend}] baseline: an ordinary 1,000-row import ...", flush=True)
        timed_import(service, project, small)
        baseline = service.peak_rss_mb("worker")
        print(
            f"[{backend}] importing a file with one {path.stat().st_size / 1e6:,.0f} MB line ...", flush=True
        )
        seconds, job = timed_import(service, project, path)
        assert (job["created"], job["failed"]) == (2, 1), job
        (error,) = cast(list[dict[str, Any]], job["errors"])
        assert error["line"] == 2 and "FINCH_MAX_ROW_BYTES" in error["error"], job
        return {
            "baseline_mb": baseline,
            "peak_mb": service.peak_rss_mb("worker"),
            "seconds": seconds,
            "uploads_left": uploads_left(service),
        }


def report_long_line(backend: str, megabytes: int, r: dict[str, float]) -> None:
    verdict = "PASS" if r["peak_mb"] < LONG_LINE_TARGET_MB else "FAIL"
    print(
        f"\n[{backend}] one {megabytes} MB line: worker peak RSS {r['peak_mb']:.0f} MB"
        f" (baseline after an ordinary import {r['baseline_mb']:.0f} MB, ratio {r['peak_mb'] / r['baseline_mb']:.2f}x;"
        f" target < {LONG_LINE_TARGET_MB} MB: {verdict}); job {r['seconds']:.1f} s;"
        f" uploads left on disk {r['uploads_left']:.0f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--naive-rows", type=int, default=20_000)
    parser.add_argument("--backends", default="postgresql,sqlite")
    parser.add_argument("--long-line-mb", type=int, default=500, help="0: skip the long-line run")
    parser.add_argument("--skip-rate", action="store_true", help="only the long-line run")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument(
        "--parquet", action="store_true", help="also import the same rows as a Parquet file (each backend)"
    )
    parser.add_argument(
        "--label-studio-rows",
        type=int,
        default=-1,
        help="rows Label Studio imports beside Finch (default: --rows; 0: skip the anchor)",
    )
    args = parser.parse_args()
    print(cpu_note(), flush=True)
    backends = args.backends.split(",")
    with tempfile.TemporaryDirectory() as folder:
        results = {} if args.skip_rate else rate_results(Path(folder), args, backends)
        anchor = label_studio_rate(Path(folder), args) if results else None
        if args.long_line_mb:
            long_line = Path(folder) / "long-line.jsonl"
            write_long_line(long_line, args.long_line_mb)
            small = Path(folder) / "small.jsonl"
            write_jsonl(small, 1000)
            long_results = bench_long_line(backends[0], long_line, small, args.port)
    if results:
        print_rates(results)
    if anchor:
        print_anchor(anchor, results)
    if args.long_line_mb:
        report_long_line(backends[0], args.long_line_mb, long_results)


def rate_results(folder: Path, args: argparse.Namespace, backends: list[str]) -> dict[str, dict[str, float]]:
    path = folder / "examples.jsonl"
    size = write_jsonl(path, args.rows)
    print(f"generated {args.rows:,} rows, {size / 1e6:.0f} MB", flush=True)
    parquet = folder / "examples.parquet" if args.parquet else None
    if parquet:
        write_parquet(path, parquet)
    return {
        backend: bench_backend(backend, path, args.rows, args.naive_rows, args.port, parquet)
        for backend in backends
    }


def label_studio_rate(folder: Path, args: argparse.Namespace) -> dict[str, float] | None:
    """Label Studio importing the same file's first rows as JSON lists (bench/label_studio.py)."""
    rows = args.rows if args.label_studio_rows < 0 else args.label_studio_rows
    command = label_studio.installed() if rows else None
    if command is None:
        return None
    print(f"[label studio {label_studio.VERSION}] importing {rows:,} rows ...", flush=True)
    with label_studio.running(command, args.port + 25) as url:
        seconds = label_studio.import_seconds(url, folder / "examples.jsonl", rows)
    return {"rows": rows, "seconds": seconds, "rows_per_s": rows / seconds}


def print_anchor(anchor: dict[str, float], results: dict[str, dict[str, float]]) -> None:
    print(
        f"\nLabel Studio {label_studio.VERSION} (its own server, SQLite, JSON lists of {label_studio.BATCH_ROWS:,} rows):"
        f" {anchor['rows']:,.0f} rows in {anchor['seconds']:.1f} s, {anchor['rows_per_s']:,.0f} rows/s"
    )
    for backend, r in results.items():
        print(f"  Finch on {backend} / Label Studio: {r['rows_per_s'] / anchor['rows_per_s']:.1f}x")


def print_rates(results: dict[str, dict[str, float]]) -> None:
    print(
        f"\n{'backend':<11} {'rows/s':>9} {'seconds':>8} {'re-import rows/s':>17} {'naive rows/s':>13} {'speedup':>8} {'web MB':>7} {'worker MB':>10}"
    )
    for backend, r in results.items():
        print(
            f"{backend:<11} {r['rows_per_s']:>9,.0f} {r['seconds']:>8.1f} {r['reimport_rows_per_s']:>17,.0f}"
            f" {r['naive_rows_per_s']:>13,.0f} {r['rows_per_s'] / r['naive_rows_per_s']:>7.1f}x"
            f" {r['web_rss_mb']:>7.0f} {r['worker_rss_mb']:>10.0f}"
        )
        if r["backlog_s"]:
            print(f"{'':<11} then {r['backlog_s']:.1f} s in the background for the search index")
        if r["parquet_seconds"]:
            rows = r["rows_per_s"] * r["seconds"]
            print(
                f"{'':<11} the same rows as Parquet: {rows / r['parquet_seconds']:,.0f} rows/s"
                f" ({r['parquet_seconds']:.1f} s; {r['seconds'] / r['parquet_seconds']:.2f}x the JSONL file's rate)"
            )


if __name__ == "__main__":
    main()
