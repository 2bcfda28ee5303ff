"""Start Finch as it runs for real (gunicorn web + a Celery worker) on a fresh database, and
talk to it over HTTP: what the benchmarks share."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
LOCAL_POSTGRES = "postgres://postgres@127.0.0.1:5432"
DATABASE_NAME = re.compile(r"[A-Za-z0-9_]+")
PASSWORD = "bench-password-1"
BACKLOG_SCRIPT = """
from curation.models import Example
print(Example.objects.filter(project_id={project}, search_indexed=False).count())
"""
VACUUM_SCRIPT = """
from django.db import connection
from curation.models import Example
if connection.vendor == "postgresql":
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM ANALYZE {Example._meta.db_table}")
"""
MARKS_SCRIPT = """
import json
from curation.models import Example
rows = Example.objects.filter(project_id={project}).order_by("id").values_list("id", "duplicate_of_id")
print(json.dumps(list(rows)))
"""


def cpuid_note() -> str:
    """The vector extensions as CPUID reports them to the benchmark's processes (numpy asks
    CPUID; /proc/cpuinfo does not): under bench/as_avx2 they are fewer than the CPU's flags."""
    from numpy._core._multiarray_umath import __cpu_features__ as seen

    names = {"AVX2": "AVX2", "AVX-512": "AVX512F", "AVX-512 VNNI": "AVX512VNNI", "bf16": "AVX512BF16"}
    shown = ", ".join(f"{name} {'yes' if seen.get(key) else 'no'}" for name, key in names.items())
    masked = " (masked by bench/as_avx2)" if "cpuid_mask" in os.environ.get("LD_PRELOAD", "") else ""
    return f"CPUID as the benchmark's processes see it: {shown}{masked}"


@dataclass
class Service:
    """A running web process and worker on one backend, with an API token."""

    backend: str
    env: dict[str, str]
    base_url: str
    token: str = ""
    models_note: str = ""  # what prepare_models said (where the int8 model is, how long it took)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def api(self, method: str, path: str, body: dict[str, Any] | list[Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base_url + path, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        if self.token:
            request.add_header("Authorization", f"Token {self.token}")
        with urllib.request.urlopen(request, timeout=600) as response:
            return json.loads(response.read() or b"null")

    def upload(self, path: str, file: Path, **fields: str) -> Any:
        """Multipart upload with curl, which streams the file instead of holding it in memory."""
        command = [
            "curl",
            "-sS",
            "--fail-with-body",
            "-H",
            f"Authorization: Token {self.token}",
            "-F",
            f"file=@{file}",
        ]
        for name, value in fields.items():
            command += ["-F", f"{name}={value}"]
        result = subprocess.run([*command, self.base_url + path], capture_output=True, check=True)
        return json.loads(result.stdout)

    def wait_for_job(self, path: str, timeout_s: float = 1800) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            job = self.api("GET", path)
            if job["status"] in ("succeeded", "failed", "cancelled", "frozen"):  # versions end frozen
                return job
            time.sleep(0.25)
        raise TimeoutError(f"{path} did not finish in {timeout_s} s")

    def import_texts(
        self, project: int, texts: list[str], outputs: list[str] | None = None, status: str = "submitted"
    ) -> None:
        """Import each text as an example (output "ok" unless given) and wait for the import and
        the work it leaves in the background (settle)."""
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "rows.jsonl"
            with path.open("w", encoding="utf-8") as handle:
                for index, text in enumerate(texts):
                    output = outputs[index] if outputs else "ok"
                    handle.write(json.dumps({"input": text, "output": output}) + "\n")
            job = self.upload(f"/api/projects/{project}/imports/", path, format="jsonl", status=status)
        finished = self.wait_for_job(f"/api/imports/{job['id']}/")
        assert finished["status"] == "succeeded", finished
        self.settle(project, timeout_s=max(600, len(texts) / 1000))  # about 0.3 ms a row

    def settle(self, project: int, timeout_s: float = 600) -> None:
        """Wait until the project's imported rows are in the text search's indexes (a task does
        it after an import on PostgreSQL: about 0.3 ms a row of both cores, curation/search.py),
        then vacuum, so that a job timed next does not share the machine with either."""
        deadline = time.monotonic() + timeout_s
        while int(run_django(self.env, BACKLOG_SCRIPT.format(project=project))):
            if time.monotonic() > deadline:
                raise TimeoutError(f"project {project}'s rows were not indexed within {timeout_s} s")
            time.sleep(0.5)
        run_django(self.env, VACUUM_SCRIPT)

    def kept_rows(self, project: int) -> list[int]:
        """For each example of the project in id order (the import file's order), the row of
        the example it is kept as: its own row, or its kept example's if marked a duplicate."""
        script = MARKS_SCRIPT.format(project=project)
        marks = json.loads(run_django(self.env, script))
        row_of = {pk: row for row, (pk, _) in enumerate(marks)}
        return [row_of[kept] if kept is not None else row for row, (_, kept) in enumerate(marks)]

    def peak_rss_mb(self, name: str) -> float:
        """Peak resident memory (VmHWM) of a process and its children, the largest one."""
        process = self.processes[name]
        pids = [process.pid, *_children(process.pid)]
        return max((_vm_hwm_kb(pid) for pid in pids), default=0) / 1024


def _children(pid: int) -> list[int]:
    result = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True)
    kids = [int(line) for line in result.stdout.split()]
    return kids + [grandchild for kid in kids for grandchild in _children(kid)]


def _vm_hwm_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _database_url(backend: str, home: Path) -> str:
    if backend == "sqlite":
        return f"sqlite:///{home / 'finch.sqlite3'}"
    url = bench_database_url("finch_bench")
    fresh_database(url)
    return url


def bench_database_url(default_name: str) -> str:
    """The PostgreSQL database a benchmark fills, then drops or leaves: FINCH_BENCH_DB, either a
    database name on the local server (as `postgres` on 127.0.0.1:5432) or a whole postgres://
    URL; unset, `default_name` on the local server. Its own, where benchmarks run side by side."""
    setting = os.environ.get("FINCH_BENCH_DB", "").strip() or default_name
    url = setting if "://" in setting else f"{LOCAL_POSTGRES}/{setting}"
    name = urllib.parse.urlsplit(url).path.lstrip("/")
    if not DATABASE_NAME.fullmatch(name):
        raise SystemExit(f"FINCH_BENCH_DB: {name!r} is no plain database name (letters, digits, _)")
    return url


def fresh_database(url: str) -> None:
    """Drop the database the URL names (it is the benchmark's own) and create it empty."""
    drop_database(url)
    _admin(url, f'CREATE DATABASE "{_database_name(url)}"')


def drop_database(url: str) -> None:
    _admin(url, f'DROP DATABASE IF EXISTS "{_database_name(url)}" WITH (FORCE)')


def _database_name(url: str) -> str:
    return urllib.parse.urlsplit(url).path.lstrip("/")


def _admin(url: str, statement: str) -> None:
    """Run a statement on the server's `postgres` database, as the URL's user."""
    server = urllib.parse.urlsplit(url)._replace(path="/postgres").geturl()
    subprocess.run(["psql", "-q", "-d", server, "-c", statement], check=True)


@contextmanager
def running_service(
    backend: str,
    port: int = 8765,
    worker_processes: int = 1,
    extra_env: dict[str, str] | None = None,
    broker_url: str | None = None,
) -> Iterator[Service]:
    """A fresh database and FINCH_HOME, migrated, with a user, web and worker running (one
    process, or a prefork pool of `worker_processes`), on the embedded file broker unless
    `broker_url` names another."""
    home = Path(tempfile.mkdtemp(prefix=f"finch-bench-{backend}-"))
    env = {
        **os.environ,
        "FINCH_HOME": str(home),
        "DATABASE_URL": _database_url(backend, home),
        "DJANGO_SETTINGS_MODULE": "config.settings.local",
        "FINCH_LOG_LEVEL": "WARNING",
        "FINCH_API_THROTTLE_USER": "",  # benchmarks measure the service, not its rate limits
        # Installed models outlive a service, as they do on a host: made once, by prepare_models.
        "FINCH_MODELS_DIR": str(ROOT / "var" / "models"),
        **(extra_env or {}),
    }
    env.pop("CELERY_BROKER_URL", None)
    if broker_url:
        env["CELERY_BROKER_URL"] = broker_url
    manage = [str(VENV_BIN / "python"), "manage.py"]
    subprocess.run([*manage, "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    prepared = subprocess.run(
        [*manage, "prepare_models"], cwd=ROOT, env=env, check=True, capture_output=True, text=True
    )
    subprocess.run(
        [*manage, "seed_demo", "--password", PASSWORD], cwd=ROOT, env=env, check=True, capture_output=True
    )
    service = Service(backend=backend, env=env, base_url=f"http://127.0.0.1:{port}")
    service.models_note = prepared.stdout.strip()
    web = [
        str(VENV_BIN / "gunicorn"),
        "config.wsgi",
        "-b",
        f"127.0.0.1:{port}",
        "-w",
        "1",
        "--timeout",
        "900",
    ]
    worker = [
        str(VENV_BIN / "celery"),
        "-A",
        "config",
        "worker",
        *(
            ["--pool", "solo"]
            if worker_processes == 1
            else ["--pool", "prefork", "-c", str(worker_processes)]
        ),
        "-Q",
        "celery,quality,gpu",
        "-l",
        "WARNING",
    ]
    log = (home / "services.log").open("wb")  # keeps the benchmark's own output readable
    service.processes["web"] = subprocess.Popen(web, cwd=ROOT, env=env, stdout=log, stderr=log)
    service.processes["worker"] = subprocess.Popen(worker, cwd=ROOT, env=env, stdout=log, stderr=log)
    try:
        _wait_until_up(service)
        service.token = service.api("POST", "/api/auth/token/", {"username": "admin", "password": PASSWORD})[
            "token"
        ]
        yield service
    finally:
        for process in service.processes.values():
            process.send_signal(signal.SIGTERM)
        for process in service.processes.values():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
        log.close()
        shutil.rmtree(home, ignore_errors=True)


def _wait_until_up(service: Service, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            service.api("GET", "/healthz")
            return
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.3)
    raise TimeoutError("the web process did not come up")


def run_django(env: dict[str, str], code: str) -> str:
    """Run Python with Django set up against the service's database; returns its stdout."""
    script = "import django; django.setup()\n" + code
    result = subprocess.run(
        [str(VENV_BIN / "python"), "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    if result.returncode:
        raise RuntimeError(f"Django script failed:\n{result.stderr[-3000:]}")
    return result.stdout
