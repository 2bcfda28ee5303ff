"""Probes: `/healthz` (the process answers) and `/readyz` (the database and the broker too)."""

from __future__ import annotations

import logging

from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

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
