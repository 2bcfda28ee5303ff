"""Monitoring benchmark: 100,000 live samples posted to a deployment over the API, then drift
reports on them, on a running service (gunicorn + a Celery worker), in one run.

    .venv/bin/python bench/drift.py [--samples 100000] [--backend postgresql]

Setup (not timed): a classification project of banking77 (bundled in bench/data), a frozen
version, a tiny model trained on it on the CPU, a deployment.
The version: 2,000 banking77 training rows drawn with a seed (every intent). Traffic: banking77
test messages and restaurant8k requests, half each (so the report alerts), cycled.
- Ingest: batches of 10,000 samples a request; baseline: the same client posting one sample a
  request (1,000 of them), in samples per second.
- Report: a lead's `POST /api/deployments/{id}/drift/` over the whole window, run as a job on
  the worker and polled until it stored the report, cold (inputs not embedded yet: a
  10,000-sample uniform subset is embedded, by the int8 model where available) and warm (the
  same window again: embeddings come from the cache); then what any member's
  `GET /api/deployments/{id}/drift/` costs now that it only reads the latest report.
Target (issue 9): ingest and a report of 100,000 samples on this machine, timings printed.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import Service, run_django, running_service
from bench.public_data import banking77, restaurant8k_texts

BATCH = 10_000
READS = 20  # GET drift/ requests timed, after the reports
BASELINE_SAMPLES = 1_000


def banking(split: str) -> list[tuple[str, str]]:
    return list(banking77(split))


def restaurant() -> list[str]:
    return restaurant8k_texts("test")


def traffic(count: int) -> list[dict[str, str]]:
    """Half banking messages answered with their intent, half restaurant requests answered with
    a label-shaped guess that is no intent."""
    bank, food = banking("test"), restaurant()
    rows = []
    for index in range(count):
        if index % 2:
            text, output = food[index // 2 % len(food)], "book_table"
        else:
            text, output = bank[index // 2 % len(bank)]
        rows.append({"input": text, "output": output})
    return rows


def deployed(service: Service) -> int:
    """The project, version, tiny-model run and deployment the traffic goes to."""
    train = random.Random(0).sample(banking("train"), 2000)
    labels = sorted({label for _, label in train})
    project = service.api(
        "POST",
        "/api/projects/",
        {
            "name": "drift bench",
            "task_type": "classification",
            "target_behavior": "Intent.",
            "labels": labels,
        },
    )["id"]
    service.import_texts(project, [t for t, _ in train], [label for _, label in train], status="approved")
    version = service.api("POST", f"/api/projects/{project}/versions/", {"eval_fraction": 0.1})
    version = service.wait_for_job(f"/api/versions/{version['id']}/")
    model = Path(service.env["FINCH_HOME"]) / "models" / "tiny"
    run_django(
        service.env,
        f"from django.core.management import call_command; call_command('make_tiny_model', {str(model)!r})",
    )
    run = service.api(
        "POST",
        "/api/training-runs/",
        {
            "version": version["id"],
            "base_model": str(model),
            "hyperparameters": {"epochs": 1, "batch_size": 32},
        },
    )
    run = service.wait_for_job(f"/api/training-runs/{run['id']}/")
    assert run["status"] == "succeeded", run["error"]
    return int(service.api("POST", "/api/deployments/", {"training_run": run["id"], "name": "bench"})["id"])


def computed_report(service: Service, path: str) -> tuple[dict[str, Any], float]:
    """A lead's report: POST starts a job on the worker; poll it, then read the report. The
    time from the POST to the report stored."""
    start = time.perf_counter()
    job = service.api("POST", f"{path}/drift/", {})
    while job["status"] not in ("succeeded", "failed", "cancelled"):
        time.sleep(0.2)
        job = service.api("GET", f"/api/drift-jobs/{job['id']}/")
    elapsed = time.perf_counter() - start
    assert job["status"] == "succeeded", job
    report = service.api("GET", f"{path}/drift/")
    assert report["id"] == job["report"], (report, job)
    return report, elapsed


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--samples", type=int, default=100_000)
    parser.add_argument("--backend", default="postgresql", choices=["postgresql", "sqlite"])
    parser.add_argument("--port", type=int, default=8765, help="of the web process started")
    args = parser.parse_args()
    rows = traffic(args.samples + BASELINE_SAMPLES)
    bulk, single = rows[: args.samples], rows[args.samples :]
    with running_service(args.backend, port=args.port) as service:
        deployment = deployed(service)
        path = f"/api/deployments/{deployment}"
        start = time.perf_counter()
        for first in range(0, len(bulk), BATCH):
            service.api("POST", f"{path}/samples/", bulk[first : first + BATCH])
        ingest_s = time.perf_counter() - start
        start = time.perf_counter()
        for row in single:
            service.api("POST", f"{path}/samples/", [row])
        single_s = time.perf_counter() - start
        cold, cold_s = computed_report(service, path)
        warm, warm_s = computed_report(service, path)
        start = time.perf_counter()
        for _ in range(READS):
            read = service.api("GET", f"{path}/drift/")
        read_s = (time.perf_counter() - start) / READS
        assert read["id"] == warm["id"], read
    bulk_rate, single_rate = len(bulk) / ingest_s, len(single) / single_s
    print(f"\n{'step':<52} {'samples':>9} {'seconds':>8} {'samples/s':>10}")
    print(f"{'ingest, 10,000 a request':<52} {len(bulk):>9,} {ingest_s:>8.1f} {bulk_rate:>10,.0f}")
    print(f"{'baseline: ingest, one a request':<52} {len(single):>9,} {single_s:>8.1f} {single_rate:>10,.0f}")
    print(f"{'drift report, cold (10,000 inputs embedded)':<52} {cold['n']:>9,} {cold_s:>8.1f}")
    print(f"{'drift report, warm (embeddings cached)':<52} {warm['n']:>9,} {warm_s:>8.1f}")
    print(f"{'reading the latest report (GET drift/), per request':<52} {read['n']:>9,} {read_s:>8.3f}")
    print(f"\ningest speedup {bulk_rate / single_rate:.0f}x over one sample a request")
    print(
        f"report: OOD rate {cold['ood_rate']:.3f}, input drift AUC {cold['input_drift']:.3f}, alert {cold['alert']}"
    )
    for reason in cold["reasons"]:
        print(f"  - {reason}")


if __name__ == "__main__":
    main()
