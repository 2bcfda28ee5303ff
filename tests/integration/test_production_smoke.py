"""The production stack without Docker: `check --deploy` clean under production settings; then
gunicorn, a Celery worker and beat on production settings against the real PostgreSQL and Redis
serve an import and a dedup job over the API, log JSON with request and job ids, and shut down
cleanly on SIGTERM."""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from rest_framework.authtoken.models import Token

from tests.factories import UserFactory
from tests.integration import test_worker
from tests.integration.test_worker import REDIS_URL, REPO_ROOT, WORKER_ENV_DROPPED, _test_database_url

redis_url = test_worker.redis_url

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

BIN = Path(sys.executable).parent
STARTUP_TIMEOUT_S = 60.0
JOB_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 30.0
ROWS = [
    {"input": "Where is my new card?", "output": "card_arrival"},
    {"input": "WHERE IS MY NEW CARD", "output": "card_arrival"},  # the same, normalized
    {"input": "How do I link my card to the app?", "output": "card_linking"},
    {"input": "What exchange rate do you use?", "output": "exchange_rate"},
]


def production_env(tmp_path: Path, broker_url: str) -> dict[str, str]:
    # The browser tests' DJANGO_ALLOW_ASYNC_UNSAFE is for their process only (check --deploy refuses it).
    dropped = {*WORKER_ENV_DROPPED, "DJANGO_ALLOW_ASYNC_UNSAFE"}
    env = {key: value for key, value in os.environ.items() if key not in dropped}
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.production",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost",
        DATABASE_URL=_test_database_url(),
        CELERY_BROKER_URL=broker_url,
        FINCH_HOME=str(tmp_path / "home"),
        PYTHONPATH=str(REPO_ROOT),
        PYTHONUNBUFFERED="1",
    )
    return env


def test_check_deploy_is_clean_under_production_settings(tmp_path: Path) -> None:
    env = production_env(tmp_path, REDIS_URL)
    result = subprocess.run(
        [str(BIN / "python"), "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


class Stack:
    def __init__(self, env: dict[str, str], logs: Path, port: int) -> None:
        self.env, self.logs, self.port = env, logs, port
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, command: list[str]) -> None:
        log = (self.logs / f"{name}.log").open("wb")
        self.processes[name] = subprocess.Popen(command, cwd=REPO_ROOT, env=self.env, stdout=log, stderr=log)

    def output(self) -> str:
        return "\n".join(
            f"--- {path.name}\n{path.read_text(errors='replace')[-3000:]}"
            for path in sorted(self.logs.glob("*.log"))
        )

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


@pytest.fixture
def stack(tmp_path: Path, redis_url: str) -> Iterator[Stack]:
    if connection.vendor != "postgresql":
        pytest.skip("the production stack runs on PostgreSQL (DATABASE_URL)")
    env = production_env(tmp_path, redis_url)
    env.update(DJANGO_SSL_REDIRECT="false", DJANGO_SECURE_COOKIES="false")  # plain HTTP on localhost
    manage = [str(BIN / "python"), "manage.py"]
    subprocess.run([*manage, "collectstatic", "--noinput", "-v0"], cwd=REPO_ROOT, env=env, check=True)
    logs = tmp_path / "logs"
    logs.mkdir()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    running = Stack(env, logs, port)
    running.start(
        "web", [str(BIN / "gunicorn"), "config.wsgi", "-b", f"127.0.0.1:{port}", "-w", "2", "--timeout", "60"]
    )
    worker = [str(BIN / "celery"), "-A", "config", "worker", "-Q", "celery,quality", "--pool", "solo"]
    running.start("worker", [*worker, "--hostname", f"smoke-{uuid.uuid4().hex[:6]}@%h", "-l", "INFO"])
    running.start(
        "beat",
        [str(BIN / "celery"), "-A", "config", "beat", "-s", str(tmp_path / "beat-schedule"), "-l", "INFO"],
    )
    try:
        yield running
    finally:
        for process in running.processes.values():
            if process.poll() is None:
                process.kill()
                process.wait()


def call(
    stack: Stack,
    method: str,
    path: str,
    token: str = "",
    body: Any = None,
    raw: bytes | None = None,
    content_type: str = "application/json",
) -> tuple[int, Any, dict[str, str]]:
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    request = urllib.request.Request(stack.url(path), data=data, method=method)
    request.add_header("Content-Type", content_type)
    if token:
        request.add_header("Authorization", f"Token {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"null"), dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null"), dict(error.headers)


def multipart(fields: dict[str, str], filename: str, content: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in fields.items()
    ]
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n".encode()
        + content
        + b"\r\n"
    )
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def wait_for(stack: Stack, path: str, token: str, done: Any, timeout_s: float) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for name, process in stack.processes.items():
            if process.poll() is not None:
                pytest.fail(f"{name} exited ({process.returncode}).\n{stack.output()}")
        try:
            status, body, _ = call(stack, "GET", path, token)
        except (urllib.error.URLError, ConnectionError):
            status, body = 0, None
        if status == 200 and done(body):
            return body
        time.sleep(0.3)
    pytest.fail(f"{path} not done after {timeout_s:.0f} s.\n{stack.output()}")


def test_the_production_stack_serves_an_import_and_a_dedup_job(stack: Stack) -> None:
    user = UserFactory.create(is_staff=True)
    token = Token.objects.create(user=user).key
    ready = wait_for(stack, "/readyz", "", lambda body: body["status"] == "ok", STARTUP_TIMEOUT_S)
    assert ready == {"status": "ok", "database": "ok", "broker": "ok"}

    status, project, headers = call(
        stack,
        "POST",
        "/api/projects/",
        token,
        {
            "name": "Smoke",
            "task_type": "classification",
            "target_behavior": "Route.",
            "labels": ["card_arrival", "card_linking", "exchange_rate"],
        },
    )
    assert status == 201, project
    assert headers.get("X-Request-ID")
    rows = b"".join(json.dumps(row).encode() + b"\n" for row in ROWS)
    body, content_type = multipart({"format": "jsonl"}, "rows.jsonl", rows)
    status, job, _ = call(
        stack, "POST", f"/api/projects/{project['id']}/imports/", token, raw=body, content_type=content_type
    )
    assert status == 202, job
    imported = wait_for(
        stack,
        f"/api/imports/{job['id']}/",
        token,
        lambda j: j["status"] != "queued" and j["status"] != "running",
        JOB_TIMEOUT_S,
    )
    assert imported["status"] == "succeeded" and imported["created"] == 4, imported

    status, dedup, _ = call(
        stack, "POST", f"/api/projects/{project['id']}/dedup-jobs/", token, {"method": "exact"}
    )
    assert status == 202, dedup
    finished = wait_for(
        stack,
        f"/api/dedup-jobs/{dedup['id']}/",
        token,
        lambda j: j["status"] in ("succeeded", "failed"),
        JOB_TIMEOUT_S,
    )
    assert finished["status"] == "succeeded" and finished["duplicates_marked"] == 1, finished

    # Clean shutdown: every process stops on SIGTERM, with status 0.
    for process in stack.processes.values():
        process.send_signal(signal.SIGTERM)
    for name, process in stack.processes.items():
        assert process.wait(timeout=STOP_TIMEOUT_S) == 0, f"{name}\n{stack.output()}"

    worker_lines = [
        json.loads(line)
        for line in (stack.logs / "worker.log").read_text().splitlines()
        if line.startswith("{")
    ]
    assert any(
        line.get("job") == f"DedupJob:{dedup['id']}"
        and line.get("project") == project["id"]
        and line.get("task_id")
        for line in worker_lines
    ), stack.output()
    web_lines = [
        json.loads(line) for line in (stack.logs / "web.log").read_text().splitlines() if line.startswith("{")
    ]
    assert all("level" in line and "message" in line for line in web_lines)
