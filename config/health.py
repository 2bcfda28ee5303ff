"""Probes: `/healthz` (the process answers) and `/readyz` (the database and the broker too),
answered whatever the Host header says; and 503, not 500, for any request made while the
database is away."""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.db import InterfaceError, OperationalError, connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django.views.decorators.http import require_GET

from api.exceptions import error_body

log = logging.getLogger(__name__)
BROKER_TIMEOUT_S = 3


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness: no database query, so a slow database does not get healthy web processes killed."""
    return JsonResponse({"status": "ok"})


@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    """Readiness: 200 when the database answers a query and the broker takes a connection;
    503 naming the part that failed (the load balancer then sends traffic elsewhere)."""
    checks = {"database": _database(), "broker": _broker()}
    ready = all(value == "ok" for value in checks.values())
    return JsonResponse({"status": "ok" if ready else "unavailable", **checks}, status=200 if ready else 503)


def _database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:  # any failure means not ready; the reason goes to the log and the body
        log.warning("readiness: database unreachable: %s", exc)
        return f"unreachable: {type(exc).__name__}"
    return "ok"


def _broker() -> str:
    from config.celery_app import app

    try:
        with app.connection_for_write() as broker:
            broker.ensure_connection(max_retries=1, timeout=BROKER_TIMEOUT_S)
    except Exception as exc:
        log.warning("readiness: broker unreachable: %s", exc)
        return f"unreachable: {type(exc).__name__}"
    return "ok"


PROBES: dict[str, Callable[[HttpRequest], HttpResponse]] = {"/healthz": healthz, "/readyz": readyz}


class ProbeMiddleware:
    """kubelet's httpGet probes send `Host: <pod IP>:<port>`, which ALLOWED_HOSTS rightly refuses
    (400 DisallowedHost, so pods would never become ready). The probe paths are answered here,
    before anything reads the Host header (SecurityMiddleware, CommonMiddleware); every other
    path still has it checked. They reveal nothing but whether this process, its database and
    its broker are up."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        probe = PROBES.get(request.path_info)
        return probe(request) if probe is not None else self.get_response(request)


RETRY_AFTER_S = 5
# SQLite raises OperationalError for statements it cannot run as well: those are faults in
# the request, not an outage, and a script told to try again would loop.
STATEMENT_ERRORS = (
    "expression tree is too large",
    "too many sql variables",
    "too many terms in compound select",
    "string or blob too big",
    "no such table",
    "no such column",
)
UNAVAILABLE = "The database is unavailable right now; nothing was changed. Try again in a few seconds."


class DatabaseUnavailableMiddleware:
    """A view that could not reach the database (down, restarting, failing over, a SQLite file
    locked for longer than its timeout) answers 503 with Retry-After, in the API's error body
    under /api/ and as a page elsewhere. The failed request's transaction was rolled back, and
    Django drops the broken connection at the end of the request, so the next one reconnects."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not _unavailable(exception):
            return None
        log.error("database unavailable during %s %s: %s", request.method, request.path, exception)
        response: HttpResponse
        if request.path.startswith("/api/"):
            response = JsonResponse(error_body("database_unavailable", UNAVAILABLE), status=503)
        else:
            page = render_to_string("try_later.html", {"message": UNAVAILABLE})
            response = HttpResponse(page, status=503)
        response["Retry-After"] = str(RETRY_AFTER_S)
        return response


def _unavailable(exception: Exception) -> bool:
    if isinstance(exception, InterfaceError):
        return True
    message = str(exception).lower()
    return isinstance(exception, OperationalError) and not any(error in message for error in STATEMENT_ERRORS)
