"""Structured logs: JSON lines with the request id on web logs and the task, job and project
ids on worker logs, so one request or one job can be followed across hosts.

- `RequestIdMiddleware` takes the proxy's `X-Request-ID` (or makes one), keeps it for the
  request's log lines and echoes it in the response.
- `bind_job(kind, job_id, project_id)` marks the log lines of a job's work (services call it);
  a Celery signal marks every task's lines with its task id.
- `JsonFormatter` writes one JSON object a line; `ContextFilter` adds the ids to every record,
  so the plain format can show them too.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.http import HttpRequest, HttpResponse

_context: ContextVar[dict[str, Any]] = ContextVar("finch_log_context", default={})  # noqa: B039  # never mutated
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


@contextmanager
def bound(**fields: Any) -> Iterator[None]:
    """Add fields to every log line written inside the block."""
    token = _context.set({**_context.get(), **fields})
    try:
        yield
    finally:
        _context.reset(token)


def bound_value(name: str) -> Any:
    """A field bound to the current request or task (None outside one)."""
    return _context.get().get(name)


def bind_job(kind: str, job_id: int, project_id: int | None) -> Any:
    return bound(job=f"{kind}:{job_id}", project=project_id)


class ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in _context.get().items():
            setattr(record, key, value)
        return True


class ClientErrorWithoutTraceback(logging.Filter):
    """Django logs a refused request (a 403 from PermissionDenied, a 400) with the exception's
    traceback: pages of stack in the log for every permission check a user hits. The line
    stays; the traceback is kept for server errors only."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "status_code", 500) < 500:
            record.exc_info = None
            record.exc_text = None
        return True


class JsonFormatter(logging.Formatter):
    FIELDS = ("request_id", "task_id", "task", "job", "project")

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for field in self.FIELDS:
            value = getattr(record, field, None)
            if value is not None:
                entry[field] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


class RequestIdMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        given = request.headers.get("X-Request-ID", "")
        request_id = given if _REQUEST_ID.match(given) else uuid.uuid4().hex
        with bound(request_id=request_id):
            response = self.get_response(request)
        response["X-Request-ID"] = request_id
        return response


def connect_celery_signals() -> None:
    """Every task's log lines carry its id and name (called once by the Celery app)."""
    from celery.signals import task_postrun, task_prerun

    tokens: dict[str, Any] = {}

    @task_prerun.connect(weak=False)
    def _start(task_id: str = "", task: Any = None, **_: Any) -> None:
        tokens[task_id] = _context.set(
            {**_context.get(), "task_id": task_id, "task": getattr(task, "name", None)}
        )

    @task_postrun.connect(weak=False)
    def _end(task_id: str = "", **_: Any) -> None:
        token = tokens.pop(task_id, None)
        if token is not None:
            _context.reset(token)


@contextmanager
def logs_to_file(path: Path) -> Iterator[Path]:
    """Send the root logger's console output (INFO lines, libraries' warnings) to `path` for a
    while, and hush transformers' (and so huggingface_hub's) progress bars: a command that talks
    to a person (the demo) keeps its console to its own lines. The handlers are put back after."""
    import warnings

    path.parent.mkdir(parents=True, exist_ok=True)
    root = logging.getLogger()
    # Plain stream handlers are the console's (settings' LOGGING); file and capture handlers are subclasses.
    consoles = [handler for handler in root.handlers if type(handler) is logging.StreamHandler]
    to_file = logging.FileHandler(path, encoding="utf-8")
    to_file.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    to_file.addFilter(ContextFilter())
    _transformers_console(enabled=False)
    for handler in consoles:
        root.removeHandler(handler)
    root.addHandler(to_file)
    logging.captureWarnings(True)  # warnings.warn(...) becomes a log line, in the file
    try:
        with warnings.catch_warnings():
            yield path
    finally:
        logging.captureWarnings(False)
        root.removeHandler(to_file)
        to_file.close()
        for handler in consoles:
            root.addHandler(handler)
        _transformers_console(enabled=True)


def _transformers_console(*, enabled: bool) -> None:
    try:
        from transformers.utils import logging as transformers_logging
    except ImportError:  # pragma: no cover - transformers is a dependency
        return
    # transformers logs through its own stderr handler (not the root's): into the file with the rest.
    if enabled:
        transformers_logging.enable_progress_bar()
        transformers_logging.disable_propagation()
        transformers_logging.enable_default_handler()
    else:
        transformers_logging.disable_progress_bar()
        transformers_logging.disable_default_handler()
        transformers_logging.enable_propagation()
