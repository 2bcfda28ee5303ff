"""Export benchmark (issue 20): a project of 3,000,000 examples exported by an export job, over
the API and through the web UI, on a running service (gunicorn web + one Celery worker), each
file checked against the job's row count, size and sha256; against baselines measured in the
same run: the synchronous streaming export (GET .../examples/export/) of --sync-rows examples,
and a plain ORM iteration of the big project's rows (the floor any export pays to read them).

    .venv/bin/python bench/export.py [--rows 3000000] [--sync-rows 100000] [--backend sqlite]
        [--version-rows 0] [--port 8781]

Rows are built by one INSERT ... SELECT (generate_series on PostgreSQL, a recursive CTE on
SQLite), not timed. With --version-rows N, N of them are approved and frozen into a version,
and its `all` jsonl export is downloaded: it must come from the stored files with its
Content-Length, at that size too. Prints the CPU flags, each figure, the ratio of the job's rate
to the streaming export's, and the FINCH_EXPORT_SYNC_MAX_ROWS the streaming rate supports within
a quarter of the 120 s web timeout.
"""

from __future__ import annotations

import argparse
import hashlib
import http.cookiejar
import json
import re
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import PASSWORD, Service, run_django, running_service

WEB_TIMEOUT_S = 120
SAFE_FRACTION = 0.25

INSERT = """
from django.db import connection
project, rows, first = {project}, {rows}, {first}
status = {status!r}
text = "'Where is my card number ' || n || '? I ordered it ' || (n % 97) || ' days ago and it has still not arrived at my address.'"
meta = "'{{\\"n\\": ' || n || ', \\"channel\\": \\"app\\"}}'"
if connection.vendor == "postgresql":
    series = f"generate_series({{first}}, {{first}} + {{rows}} - 1) AS n"
    digest = "md5(n::text) || md5((n + 1)::text)"
    sql = f"INSERT INTO curation_example (project_id, input, output, metadata, external_id, content_hash, status, revision, last_change, source, created_at, updated_at) SELECT {{project}}, {{text}}, 'card_arrival', ({{meta}})::jsonb, NULL, {{digest}}, '{{status}}', 1, 'created', 'bench', now(), now() FROM {{series}}"
else:
    digest = "printf('%064d', n)"
    sql = f"WITH RECURSIVE s(n) AS (SELECT {{first}} UNION ALL SELECT n + 1 FROM s WHERE n < {{first}} + {{rows}} - 1) INSERT INTO curation_example (project_id, input, output, metadata, external_id, content_hash, status, revision, last_change, source, created_at, updated_at) SELECT {{project}}, {{text}}, 'card_arrival', {{meta}}, NULL, {{digest}}, '{{status}}', 1, 'created', 'bench', datetime('now'), datetime('now') FROM s"
with connection.cursor() as cursor:
    cursor.execute(sql)
    if connection.vendor == "postgresql":
        cursor.execute("ANALYZE curation_example")
print(rows)
"""

ORM_READ = """
import json, time
from curation.models import Example
start = time.perf_counter()
count = sum(1 for _ in Example.objects.filter(project_id={project}).order_by("id").values_list("id", "input", "output", "metadata").iterator(chunk_size=2000))
print(json.dumps({{"rows": count, "seconds": time.perf_counter() - start}}))
"""


def cpu_flags() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("flags"):
            return line.split(":", 1)[1].strip()
    return "unknown"


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown"


def new_project(service: Service, name: str, rows: int, status: str = "draft", first: int = 1) -> int:
    body = {"name": name, "task_type": "generation", "target_behavior": "Answer banking questions."}
    project = int(service.api("POST", "/api/projects/", body)["id"])
    run_django(service.env, INSERT.format(project=project, rows=rows, first=first, status=status))
    return project


def download(url: str, headers: dict[str, str], opener: Any = None) -> dict[str, Any]:
    """Fetch to a temporary file, hashing and counting lines on the way; the response's headers."""
    request = urllib.request.Request(url, headers=headers)
    start = time.perf_counter()
    digest, size, lines = hashlib.sha256(), 0, 0
    with (opener.open if opener else urllib.request.urlopen)(request, timeout=3600) as response:
        length = response.headers.get("Content-Length")
        while chunk := response.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
            lines += chunk.count(b"\n")
        status = response.status
    return {
        "status": status,
        "seconds": time.perf_counter() - start,
        "content_length": int(length) if length else None,
        "size": size,
        "lines": lines,
        "sha256": digest.hexdigest(),
    }


def check_file(what: str, job: dict[str, Any], got: dict[str, Any], rows: int) -> None:
    expected = (rows, job["size"], job["size"], job["sha256"])
    actual = (got["lines"], got["size"], got["content_length"], got["sha256"])
    assert job["row_count"] == rows and actual == expected, f"{what}: job {job} vs file {got}"
    print(
        f"    {what}: {rows:,} rows, {got['size'] / 1e6:,.0f} MB, Content-Length and sha256 match", flush=True
    )


def api_export(service: Service, project: int, rows: int) -> dict[str, float]:
    auth = {"Authorization": f"Token {service.token}"}
    start = time.perf_counter()
    job = service.api("POST", f"/api/projects/{project}/exports/", {"format": "jsonl"})
    job = service.wait_for_job(f"/api/exports/{job['id']}/", timeout_s=7200)
    written = time.perf_counter() - start
    assert job["status"] == "succeeded", job
    got = download(job["download_url"], auth)
    check_file("API job", job, got, rows)
    return {"job_s": written, "download_s": got["seconds"], "total_s": written + got["seconds"]}


def ui_export(service: Service, project: int, rows: int) -> dict[str, float]:
    """Sign in with the login form, press the dashboard's Export JSONL, follow the export page
    until it offers the download, then download it: what a person in the browser does."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    opener.open(service.base_url + "/login/", timeout=60).read()
    token = str(next(cookie.value for cookie in jar if cookie.name == "csrftoken"))
    form = {"username": "admin", "password": PASSWORD, "csrfmiddlewaretoken": token}
    opener.open(_post(service.base_url + "/login/", form, token), timeout=60).read()
    token = str(next(cookie.value for cookie in jar if cookie.name == "csrftoken"))
    dashboard = opener.open(f"{service.base_url}/projects/{project}/", timeout=60).read().decode()
    assert f'action="/projects/{project}/exports/"' in dashboard, "no export button on the dashboard"
    start = time.perf_counter()
    form = {"format": "jsonl", "csrfmiddlewaretoken": token}
    with opener.open(
        _post(f"{service.base_url}/projects/{project}/exports/", form, token), timeout=60
    ) as page:
        export_url = page.geturl()
    job_id = int(re.search(r"/exports/(\d+)/$", export_url).group(1))  # type: ignore[union-attr]
    while "Download (" not in (page_text := opener.open(export_url, timeout=60).read().decode()):
        assert "badge failed" not in page_text, page_text[-2000:]
        time.sleep(0.5)
    written = time.perf_counter() - start
    link = re.search(r'id="download" href="([^"]+)"', page_text).group(1)  # type: ignore[union-attr]
    got = download(service.base_url + link, {}, opener)
    job = json.loads(opener.open(f"{service.base_url}/api/exports/{job_id}/", timeout=60).read())
    check_file("UI", job, got, rows)
    return {"job_s": written, "download_s": got["seconds"], "total_s": written + got["seconds"]}


def _post(url: str, form: dict[str, str], token: str) -> urllib.request.Request:
    data = urllib.parse.urlencode(form).encode()
    return urllib.request.Request(url, data=data, headers={"X-CSRFToken": token, "Referer": url})


def sync_export(service: Service, project: int, rows: int) -> float:
    auth = {"Authorization": f"Token {service.token}"}
    got = download(f"{service.base_url}/api/projects/{project}/examples/export/?format=jsonl", auth)
    assert got["lines"] == rows, got
    return rows / got["seconds"]


def refused_quickly(service: Service, project: int) -> float:
    """The streaming export of the big project: a 413 naming the export job, and how fast."""
    request = urllib.request.Request(
        f"{service.base_url}/api/projects/{project}/examples/export/",
        headers={"Authorization": f"Token {service.token}"},
    )
    start = time.perf_counter()
    try:
        urllib.request.urlopen(request, timeout=600)
    except urllib.error.HTTPError as refusal:
        body = json.loads(refusal.read())
        assert refusal.code == 413 and "/exports/" in body["detail"], body
        return time.perf_counter() - start
    raise AssertionError("the streaming export of the big project was not refused")


def version_export(service: Service, rows: int) -> dict[str, float]:
    project = new_project(service, "bench version export", rows, status="approved", first=10_000_001)
    start = time.perf_counter()
    version = service.api("POST", f"/api/projects/{project}/versions/", {"eval_fraction": 0.1})
    version = service.wait_for_job(f"/api/versions/{version['id']}/", timeout_s=7200)
    frozen = time.perf_counter() - start
    assert version["status"] == "frozen", version
    auth = {"Authorization": f"Token {service.token}"}
    got = download(f"{service.base_url}/api/versions/{version['id']}/export/?split=all&format=jsonl", auth)
    assert (got["lines"], got["sha256"], got["content_length"]) == (rows, version["sha256"], got["size"]), got
    print(
        f"    version: {rows:,} items, {got['size'] / 1e6:,.0f} MB with Content-Length, sha256 matches",
        flush=True,
    )
    return {"freeze_s": frozen, "download_s": got["seconds"]}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=3_000_000)
    parser.add_argument("--sync-rows", type=int, default=100_000)
    parser.add_argument("--version-rows", type=int, default=0)
    parser.add_argument("--backend", default="sqlite")
    parser.add_argument("--port", type=int, default=8781)
    args = parser.parse_args()
    print(f"CPU: {cpu_model()}\nCPU flags: {cpu_flags()}", flush=True)
    extra = {"FINCH_EXPORT_SYNC_MAX_ROWS": str(args.sync_rows)}
    with running_service(args.backend, port=args.port, extra_env=extra) as service:
        start = time.perf_counter()
        big = new_project(service, "bench export", args.rows)
        small = new_project(service, "bench streaming export", args.sync_rows, first=args.rows + 1)
        print(
            f"[{args.backend}] built {args.rows:,} + {args.sync_rows:,} rows in {time.perf_counter() - start:.0f} s",
            flush=True,
        )
        sync_rate = sync_export(service, small, args.sync_rows)
        refusal_s = refused_quickly(service, big)
        orm = json.loads(run_django(service.env, ORM_READ.format(project=big)))
        print(f"[{args.backend}] export job over the API ...", flush=True)
        api = api_export(service, big, args.rows)
        print(f"[{args.backend}] export job through the UI ...", flush=True)
        ui = ui_export(service, big, args.rows)
        version = version_export(service, args.version_rows) if args.version_rows else None
        worker_mb, web_mb = service.peak_rss_mb("worker"), service.peak_rss_mb("web")
    job_rate = args.rows / api["job_s"]
    print(f"\n{args.backend}, {args.rows:,} rows")
    print(f"  streaming export (baseline, {args.sync_rows:,} rows):  {sync_rate:>10,.0f} rows/s")
    print(f"  ORM iteration of the rows (read floor):       {orm['rows'] / orm['seconds']:>10,.0f} rows/s")
    print(
        f"  export job over the API: file written in {api['job_s']:.1f} s ({job_rate:,.0f} rows/s), downloaded in {api['download_s']:.1f} s"
    )
    print(
        f"  export job through the UI: file written in {ui['job_s']:.1f} s, downloaded in {ui['download_s']:.1f} s"
    )
    print(
        f"  job rate / streaming rate: {job_rate / sync_rate:.2f}x; streaming export of {args.rows:,} refused (413) in {refusal_s * 1000:.0f} ms"
    )
    if version:
        print(
            f"  version of {args.version_rows:,}: frozen in {version['freeze_s']:.1f} s, `all` jsonl downloaded in {version['download_s']:.1f} s"
        )
    print(f"  peak RSS: worker {worker_mb:.0f} MB, web {web_mb:.0f} MB")
    print(
        f"  FINCH_EXPORT_SYNC_MAX_ROWS supported by the streaming rate within {SAFE_FRACTION:.0%} of {WEB_TIMEOUT_S} s: {sync_rate * WEB_TIMEOUT_S * SAFE_FRACTION:,.0f}"
    )


if __name__ == "__main__":
    main()
