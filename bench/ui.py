"""UI speed with 1,000,000 examples in PostgreSQL: server time of the review queue's next
example and of the example table's first page, against naive versions in the same run
(OFFSET-based queue position, Django's Paginator with COUNT and OFFSET); and the text search
`?q=<a rare word>` (UI browse page and API list) with the trigram indexes against the same
requests with them dropped (a scan of the project's rows), in the same run.

    .venv/bin/python bench/ui.py [--rows 1000000]

The database (FINCH_BENCH_DB: a name on the local server or a postgres:// URL; default
finch_bench_ui) is dropped and refilled (through the bulk import). Targets: p95 under 50 ms
(pages), under 100 ms (search for a rare word).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
REQUESTS = 200
BASELINE_REQUESTS = 10
RARE_WORD = "Quokkaesque"  # put into a few rows; searched in lower case
RARE_ROWS = 12


def cpu_summary() -> str:
    """The CPU model and its SIMD flags, from /proc/cpuinfo (figures depend on them)."""
    model, flags = "unknown CPU", list[str]()
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return model
    for line in lines:
        key, _, value = line.partition(":")
        if key.strip() == "model name" and model == "unknown CPU":
            model = value.strip()
        elif key.strip() == "flags" and not flags:
            flags = [flag for flag in value.split() if flag.startswith(("sse4", "avx", "amx"))]
    return f"{model}; {os.cpu_count()} CPUs; flags: {' '.join(flags) or 'none of sse4/avx/amx'}"


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered) * 1000, ordered[int(len(ordered) * 0.95) - 1] * 1000


def timed(call: Callable[[], object], count: int = REQUESTS) -> tuple[float, float]:
    call()  # warm caches and connections
    samples = []
    for _ in range(count):
        start = time.perf_counter()
        call()
        samples.append(time.perf_counter() - start)
    return percentiles(samples)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    from bench.harness import bench_database_url, fresh_database

    os.environ["DATABASE_URL"] = bench_database_url("finch_bench_ui")
    os.environ.setdefault("FINCH_HOME", tempfile.mkdtemp(prefix="finch-bench-ui-"))
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.local"
    # The baseline scans must run to the end: the search time bound would stop them.
    os.environ["FINCH_SEARCH_TIMEOUT_MS"] = "600000"
    fresh_database(os.environ["DATABASE_URL"])
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    print(cpu_summary(), flush=True)
    run(args.rows)


def run(rows: int) -> None:
    from django.contrib.auth.models import User
    from django.core.paginator import Paginator
    from django.test import Client

    from bench.datagen import write_jsonl
    from curation.models import Example, ImportJob
    from curation.services.imports import import_job_create, import_run
    from curation.services.jobs import job_run
    from curation.services.projects import project_create

    user = User.objects.create_superuser("bench", password="bench-password-1")
    project = project_create(user=user, name="bench ui", task_type="generation", target_behavior="Answer.")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "rows.jsonl"
        write_jsonl(path, rows)
        start = time.perf_counter()
        with path.open("rb") as upload:
            job = import_job_create(
                project=project, user=user, upload=upload, filename=path.name, status="submitted", queue=False
            )
        job_run(ImportJob, job.pk, import_run)
        print(f"loaded {rows:,} submitted examples in {time.perf_counter() - start:.0f} s", flush=True)
    with __import__("django.db").db.connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    client = Client()
    client.force_login(user)
    ids = list(
        Example.objects.filter(project=project).values_list("id", flat=True)[: rows : max(rows // 1000, 1)]
    )
    rng = random.Random(0)
    base = f"/projects/{project.pk}"

    def get(url: str, htmx: bool = False) -> None:
        response = client.get(url, SERVER_NAME="127.0.0.1", headers={"HX-Request": "true"} if htmx else None)
        assert response.status_code == 200, (url, response.status_code)

    queue = Example.objects.filter(project=project, status="submitted").order_by("id")
    results = {
        "review: next example (htmx card)": timed(
            lambda: get(f"{base}/review/?after={rng.choice(ids)}", htmx=True)
        ),
        "review: queue page": timed(lambda: get(f"{base}/review/")),
        "browse: first page": timed(lambda: get(f"{base}/examples/")),
        "browse: first page, status filter": timed(lambda: get(f"{base}/examples/?status=submitted")),
        "browse: a deep page (keyset)": timed(lambda: get(f"{base}/examples/?before={rng.choice(ids)}")),
    }
    baselines = {
        "naive next: OFFSET to the queue position": timed(lambda: queue[rng.randrange(rows)], 20),
        "naive page: Paginator (COUNT + OFFSET), deep": timed(
            lambda: list(Paginator(queue, 50).page(rng.randrange(1, rows // 50)).object_list), 20
        ),
    }
    print(f"\n{'measure':<46} {'p50 ms':>8} {'p95 ms':>8}")
    for name, (p50, p95) in {**results, **baselines}.items():
        print(f"{name:<46} {p50:>8.1f} {p95:>8.1f}")
    next_p95 = results["review: next example (htmx card)"][1]
    page_p95 = results["browse: a deep page (keyset)"][1]
    print(
        f"\nnext example: {baselines['naive next: OFFSET to the queue position'][1] / next_p95:.0f}x faster at p95 than OFFSET"
    )
    print(
        f"deep page: {baselines['naive page: Paginator (COUNT + OFFSET), deep'][1] / page_p95:.0f}x faster at p95 than Paginator"
    )
    search(project, user, rows)


def search(project: Any, user: Any, rows: int) -> None:
    """`?q=` for a word in a few rows, on the browse page and the API, with the trigram indexes
    and then without them (the baseline: what every search cost before them)."""
    from django.db import connection
    from django.test import Client

    from curation.models import Example
    from curation.search import trigram_indexes_create, trigram_indexes_drop

    picked = list(
        Example.objects.filter(project=project).values_list("id", flat=True)[:: rows // RARE_ROWS][:RARE_ROWS]
    )
    for index, example_id in enumerate(picked):  # in the input or the output, in mixed case
        field = "input" if index % 2 else "output"
        Example.objects.filter(pk=example_id).update(**{field: f"Ask the {RARE_WORD} desk {index}"})
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE curation_example")
    client = Client()
    client.force_login(user)
    word = RARE_WORD.lower()
    urls = {
        "browse page": f"/projects/{project.pk}/examples/?q={word}",
        "API list": f"/api/projects/{project.pk}/examples/?q={word}",
    }

    def get(url: str) -> None:
        response = client.get(url, SERVER_NAME="127.0.0.1")
        assert response.status_code == 200, (url, response.status_code)
        found = len(response.json()["results"]) if url.startswith("/api/") else len(picked)
        assert found == len(picked) and RARE_WORD in response.content.decode(), "rare rows not found"

    indexed = {name: timed(partial(get, url), 50) for name, url in urls.items()}
    trigram_indexes_drop(connection)
    scanned = {name: timed(partial(get, url), BASELINE_REQUESTS) for name, url in urls.items()}
    trigram_indexes_create(connection)
    print(f"\nsearch ?q={word} ({len(picked)} of {rows:,} rows) {'p50 ms':>8} {'p95 ms':>8}")
    for name in urls:
        for label, figures in (("trigram index", indexed[name]), ("no index (scan)", scanned[name])):
            print(f"{name + ', ' + label:<46} {figures[0]:>8.1f} {figures[1]:>8.1f}")
        print(f"{name}: {scanned[name][1] / indexed[name][1]:.0f}x faster at p95 with the index")


if __name__ == "__main__":
    main()
