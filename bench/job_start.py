"""Job start: how long a queued job waits before a worker starts it, on the embedded default
(SQLite and the file broker) and on Redis (with PostgreSQL), each with a real worker process.

    .venv/bin/python bench/job_start.py [--jobs 30] [--brokers embedded,redis]

Each job is a real import of a one-row file through `POST /api/projects/{id}/imports/` on a
service started for the purpose (gunicorn and one Celery worker, bench/harness.py), queued once
the previous one finished: the worker is idle, as a user's job usually finds it. Timed, from the
job's own record: `created_at` (the row written in the request, queued when it commits) to
`started_at` (the worker has taken the task and marked it running). Printed: p50, p95 and the
largest, then the same on a service with the settings before issue 25, in the same run:
FINCH_BROKER_POLL_MS=1000 (kombu's default polling of the file broker) and
FINCH_WORKER_KEEP_CONNECTIONS=false (a new database connection for every task).
Redis: FINCH_BENCH_REDIS_URL (default redis://127.0.0.1:6379/0; give it a database of its own).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import Service, running_service
from bench.ui import cpu_summary

BEFORE = {"FINCH_BROKER_POLL_MS": "1000", "FINCH_WORKER_KEEP_CONNECTIONS": "false"}


def start_delays(service: Service, jobs: int) -> list[float]:
    """Seconds from queued to started for `jobs` one-row imports, one after another."""
    project = service.api(
        "POST",
        "/api/projects/",
        {
            "name": "job start",
            "task_type": "classification",
            "target_behavior": "Route.",
            "labels": ["a", "b"],
        },
    )["id"]
    delays = []
    rng = random.Random(0)
    with tempfile.TemporaryDirectory() as folder:
        for index in range(jobs + 1):  # the first warms the worker (its first task, connections)
            # A pause of its own before each: jobs queued in step with the worker's polling would
            # all wait about as long, not as long as jobs queued at any moment do.
            time.sleep(rng.uniform(0, 0.5))
            path = Path(folder) / f"row-{index}.jsonl"
            path.write_text(f'{{"input": "message {index}", "output": "a"}}\n', encoding="utf-8")
            queued = service.upload(f"/api/projects/{project}/imports/", path, format="jsonl")
            job = service.wait_for_job(f"/api/imports/{queued['id']}/", timeout_s=120)
            assert job["status"] == "succeeded", job
            if index:
                delays.append(_seconds(job["created_at"], job["started_at"]))
    return delays


def _seconds(start: str, end: str) -> float:
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


def summary(delays: list[float]) -> str:
    ordered = sorted(delays)
    p95 = ordered[max(0, round(len(ordered) * 0.95) - 1)]
    return (
        f"p50 {statistics.median(ordered) * 1000:7.1f} ms   p95 {p95 * 1000:7.1f} ms"
        f"   max {ordered[-1] * 1000:7.1f} ms   ({len(ordered)} jobs)"
    )


def measure(broker: str, jobs: int, before: bool) -> list[float]:
    backend, broker_url = ("sqlite", None) if broker == "embedded" else ("postgresql", _redis_url())
    with running_service(backend, broker_url=broker_url, extra_env=BEFORE if before else None) as service:
        return start_delays(service, jobs)


def _redis_url() -> str:
    return os.environ.get("FINCH_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=30)
    parser.add_argument("--brokers", default="embedded,redis")
    args = parser.parse_args()
    print(cpu_summary())
    print(f"load average at the start: {' '.join(f'{load:.1f}' for load in os.getloadavg())}")
    for broker in args.brokers.split(","):
        now = measure(broker, args.jobs, before=False)
        then = measure(broker, args.jobs, before=True)
        ratio = statistics.median(then) / statistics.median(now) if statistics.median(now) else float("inf")
        print(f"\n{broker}: queued -> started")
        print(f"  now     {summary(now)}")
        print(f"  before  {summary(then)}")
        print(f"  p50 ratio: {ratio:.1f}x")
    print(f"\nload average at the end: {' '.join(f'{load:.1f}' for load in os.getloadavg())}")


if __name__ == "__main__":
    main()
