"""Probes, request ids, JSON logs and the storage setting."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from config.observability import ClientErrorWithoutTraceback, ContextFilter, JsonFormatter, bind_job, bound

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.django_db
def test_healthz_and_readyz() -> None:
    assert Client().get("/healthz").json() == {"status": "ok"}
    ready = Client().get("/readyz")
    assert ready.status_code == 200 and ready.json() == {"status": "ok", "database": "ok", "broker": "ok"}


@pytest.mark.django_db
def test_probes_answer_whatever_the_host_header_and_nothing_else_does(settings: Any) -> None:
    # Given production's host and HTTPS settings, and kubelet's probe Host header (the pod's IP)
    settings.ALLOWED_HOSTS = ["finch.example.com"]
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
    kubelet = Client(HTTP_HOST="10.244.1.17:8000")
    # When the probes ask
    alive, ready = kubelet.get("/healthz"), kubelet.get("/readyz")
    # Then both answer, over plain HTTP
    assert (alive.status_code, alive.json()) == (200, {"status": "ok"})
    assert ready.status_code == 200 and ready.json()["status"] == "ok"
    # And every other path still refuses that Host (a probe path is matched exactly)
    for path in ["/", "/login/", "/api/projects/", "/admin/login/", "/healthz/", "/readyzx"]:
        assert kubelet.get(path).status_code == 400, path
    assert Client(HTTP_HOST="finch.example.com").get("/login/", secure=True).status_code == 200


@pytest.mark.django_db
def test_readyz_names_an_unreachable_broker(monkeypatch: pytest.MonkeyPatch) -> None:
    from config.celery_app import app

    def refuse() -> object:
        raise ConnectionRefusedError("no broker")

    monkeypatch.setattr(app, "connection_for_write", refuse)
    response = Client().get("/readyz")
    assert response.status_code == 503
    assert response.json() == {
        "status": "unavailable",
        "database": "ok",
        "broker": "unreachable: ConnectionRefusedError",
    }


def test_the_request_id_is_echoed_or_made() -> None:
    given = Client().get("/healthz", HTTP_X_REQUEST_ID="trace-42.a")
    assert given["X-Request-ID"] == "trace-42.a"
    made = Client().get("/healthz", HTTP_X_REQUEST_ID="bad id <script>")
    assert len(made["X-Request-ID"]) == 32 and made["X-Request-ID"] != "bad id <script>"


def test_json_lines_carry_the_bound_ids() -> None:
    record = logging.LogRecord("finch", logging.INFO, __file__, 1, "import %s done", (7,), None)
    with bound(request_id="r-1"), bind_job("ImportJob", 7, 3):
        ContextFilter().filter(record)
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "import 7 done" and line["level"] == "INFO"
    assert (line["request_id"], line["job"], line["project"]) == ("r-1", "ImportJob:7", 3)


def refused_request_record(status_code: int) -> logging.LogRecord:
    try:
        raise PermissionError("not yours")
    except PermissionError:
        record = logging.LogRecord(
            "django.request", logging.WARNING, __file__, 1, "Forbidden: %s", ("/p/1/",), sys.exc_info()
        )
    record.status_code = status_code
    return record


@pytest.mark.parametrize(("status_code", "traceback_kept"), [(403, False), (400, False), (500, True)])
def test_a_refused_request_is_logged_in_one_line_and_a_server_error_with_its_traceback(
    status_code: int, traceback_kept: bool
) -> None:
    record = refused_request_record(status_code)

    kept = ClientErrorWithoutTraceback().filter(record)

    assert kept and ("exception" in json.loads(JsonFormatter().format(record))) == traceback_kept


def test_django_request_logs_go_through_the_filter() -> None:
    filters = logging.getLogger("django.request").filters
    assert any(isinstance(f, ClientErrorWithoutTraceback) for f in filters)


def test_s3_storage_by_configuration(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.local",
        "FINCH_HOME": str(tmp_path),
        "FINCH_STORAGE": "s3",
        "AWS_STORAGE_BUCKET_NAME": "finch-media",
        "AWS_S3_ENDPOINT_URL": "https://s3.example.com",
    }
    code = "import django; django.setup(); from django.conf import settings; print(json.dumps(settings.STORAGES['default']))"
    result = subprocess.run(
        [sys.executable, "-c", "import json; " + code],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    storage = json.loads(result.stdout)
    assert storage["BACKEND"] == "storages.backends.s3.S3Storage"
    assert (
        storage["OPTIONS"]["bucket_name"] == "finch-media"
        and storage["OPTIONS"]["endpoint_url"] == "https://s3.example.com"
    )
