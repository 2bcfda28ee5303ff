"""Label Studio as the import benchmark's anchor: the same rows imported through its REST API
(`POST /api/projects/{id}/import` with a JSON list of tasks, BATCH_ROWS a request), timed from
each request to its answer (Label Studio stores the tasks before it answers), summed.

Label Studio pins its own Django, so it lives in a virtual environment of its own,
var/label-studio-venv, made on first use (`pip install label-studio==VERSION` from the package
index, a few minutes; nothing goes into Finch's environment). It runs as `label-studio start`
runs it by default: its own server on a fresh SQLite data folder. Since 1.17 its API takes
personal access tokens (JWT) and the legacy token only where the organization allows it: the
benchmark allows it through Label Studio's own Django shell, so that one fixed token works.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.harness import ROOT

VERSION = "1.23.2"
VENV = ROOT / "var" / "label-studio-venv"
TOKEN = "finch-bench-token-0123456789abcdef"
USER, PASSWORD = "bench@example.com", "bench-password-1234"
BATCH_ROWS = 200_000  # about 105 MB of JSON a request
LABEL_CONFIG = '<View><Text name="input" value="$input"/><TextArea name="output" toName="input"/></View>'
ENABLE_LEGACY_TOKENS = """
from jwt_auth.models import JWTSettings
from organizations.models import Organization
for organization in Organization.objects.all():
    settings = JWTSettings.objects.get_or_create(organization=organization)[0]
    settings.legacy_api_tokens_enabled = True
    settings.save()
"""


def installed() -> Path | None:
    """The `label-studio` command of the benchmark's own environment, installed if missing;
    None (and why, printed) where it cannot be installed."""
    command = VENV / "bin" / "label-studio"
    if command.exists():
        return command
    print(f"installing Label Studio {VERSION} into {VENV} (once) ...", flush=True)
    try:
        subprocess.run(["python3", "-m", "venv", str(VENV)], check=True)
        subprocess.run(
            [str(VENV / "bin" / "pip"), "install", "-q", f"label-studio=={VERSION}"],
            check=True, capture_output=True, text=True,
        )  # fmt: skip
    except (subprocess.CalledProcessError, OSError) as error:
        print(f"Label Studio could not be installed: {getattr(error, 'stderr', '') or error}", flush=True)
        return None
    return command


@contextmanager
def running(command: Path, port: int) -> Iterator[str]:
    """A Label Studio server on a fresh data folder, its legacy token allowed; yields its URL."""
    with tempfile.TemporaryDirectory() as data:
        env = os.environ | {"LABEL_STUDIO_BASE_DATA_DIR": data}
        server = subprocess.Popen(
            [
                str(command), "start", "--no-browser", "--port", str(port), "--data-dir", data,
                "--username", USER, "--password", PASSWORD, "--user-token", TOKEN,
            ],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            url = f"http://127.0.0.1:{port}"
            _wait_until_up(url)
            _django_shell(env, ENABLE_LEGACY_TOKENS)
            yield url
        finally:
            server.terminate()
            server.wait(timeout=60)


def import_seconds(url: str, rows_path: Path, rows: int) -> float:
    """Seconds for importing the first `rows` rows of a JSONL file of {"input", "output"}
    objects as Label Studio tasks, BATCH_ROWS a request (its limit is a 250 MB request body:
    a million of the benchmark's rows in one request, 520 MB, is refused); checks that every
    task was stored."""
    project = _api(url, "POST", "/api/projects", {"title": "bench import", "label_config": LABEL_CONFIG})
    seconds, stored = 0.0, 0
    with rows_path.open(encoding="utf-8") as handle:
        for start in range(0, rows, BATCH_ROWS):
            count = min(BATCH_ROWS, rows - start)
            body = json.dumps([{"data": json.loads(next(handle))} for _ in range(count)]).encode()
            began = time.perf_counter()
            answer = _api(url, "POST", f"/api/projects/{project['id']}/import", body)
            seconds += time.perf_counter() - began
            stored += int(answer.get("task_count", 0))
    if stored != rows:
        raise RuntimeError(f"Label Studio stored {stored} of {rows} tasks")
    return seconds


def _api(url: str, method: str, path: str, body: dict[str, Any] | bytes) -> Any:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(url + path, data=data, method=method)
    request.add_header("Authorization", f"Token {TOKEN}")
    request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=7200) as response:
        return json.loads(response.read())


def _wait_until_up(url: str, timeout_s: float = 300) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "/health", timeout=5):
                return
        except (urllib.error.URLError, ConnectionError):
            time.sleep(1)
    raise TimeoutError(f"Label Studio did not start in {timeout_s:.0f} s")


def _django_shell(env: dict[str, str], code: str) -> None:
    package = VENV / "lib" / next(p.name for p in (VENV / "lib").iterdir()) / "site-packages" / "label_studio"
    subprocess.run(
        [str(VENV / "bin" / "python"), "manage.py", "shell", "-c", code],
        cwd=package, env=env | {"DJANGO_SETTINGS_MODULE": "core.settings.label_studio"},
        check=True, capture_output=True,
    )  # fmt: skip
