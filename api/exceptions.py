"""One exception handler: every refusal is a 4xx with `{"errors": [...], "detail"}`, never a 500."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DataError, IntegrityError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import Resolver404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from curation.errors import ApplicationError

log = logging.getLogger(__name__)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, ApplicationError):
        return _response([_error(exc.field, exc.code, exc.message)], exc.status_code)
    if isinstance(exc, RequestDataTooBig):
        return _response([_error(None, "too_large", str(exc))], status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
    if isinstance(exc, TooManyFieldsSent | TooManyFilesSent):
        return _response([_error(None, "too_many_fields", _too_many(exc))], status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, IntegrityError):
        message = "The change conflicts with data saved at the same time; reload and try again."
        return _response([_error(None, "conflict", message)], status.HTTP_409_CONFLICT)
    if isinstance(exc, DataError):
        log.warning("The database refused a request's data: %s", exc)
        message = (
            "A value in the request cannot be stored (a number out of range, say); check the values sent."
        )
        return _response([_error(None, "invalid", message)], status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(
            detail=exc.message_dict if hasattr(exc, "error_dict") else exc.messages
        )
    if isinstance(exc, exceptions.ParseError):
        exc = exceptions.ParseError(f"Malformed request body: {exc.detail}")
    response = drf_exception_handler(exc, context)
    if response is None or not isinstance(exc, exceptions.APIException):
        return response
    response.data = _body(_flatten(None, exc.get_full_details()))
    return response


def _too_many(exc: TooManyFieldsSent | TooManyFilesSent) -> str:
    """Django's refusal of a form or query string with too many parts (it would answer an HTML 400)."""
    if isinstance(exc, TooManyFilesSent):
        limit = f"DATA_UPLOAD_MAX_NUMBER_FILES = {settings.DATA_UPLOAD_MAX_NUMBER_FILES}"
        return f"The request sends more files than the service reads ({limit})."
    limit = f"DATA_UPLOAD_MAX_NUMBER_FIELDS = {settings.DATA_UPLOAD_MAX_NUMBER_FIELDS}"
    return (
        f"The request has more form fields or query parameters than the service reads ({limit}); "
        "a JSON body has no such limit."
    )


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """Django's 404 for a URL no route matches (`/api/examples/abc/`): under /api/ in the API's error
    body, like every other refusal there; elsewhere the page."""
    if request.path.startswith("/api/"):
        message = (
            f"No API endpoint at {request.path}: check the path against /api/docs/ "
            "(ids in paths are numbers)."
        )
        return JsonResponse(error_body("not_found", message), status=404)
    return render(request, "404.html", {"exception": _not_found_message(request, exception)}, status=404)


def _not_found_message(request: HttpRequest, exception: Exception) -> str:
    """The refusal's own words (No such project.), or for a URL no route matches, the path."""
    said = exception.args[0] if exception.args else None
    if isinstance(said, str) and not isinstance(exception, Resolver404):
        return said
    return f"Nothing lives at {request.path}."


def _flatten(field: str | None, details: Any) -> list[dict[str, Any]]:
    """DRF's nested error details as a flat list, each naming its field path."""
    if isinstance(details, dict) and "message" in details and "code" in details:
        return [_error(field, str(details["code"]), str(details["message"]))]
    if isinstance(details, dict):
        errors: list[dict[str, Any]] = []
        for key, value in details.items():
            name = None if key in ("non_field_errors", "detail") else str(key)
            path = ".".join(part for part in (field, name) if part) or None
            errors.extend(_flatten(path, value))
        return errors
    if isinstance(details, list):
        return [error for item in details for error in _flatten(field, item)]
    return [_error(field, "invalid", str(details))]


def _error(field: str | None, code: str, message: str) -> dict[str, Any]:
    if field and not message.startswith(field):
        message = f"{field}: {message}"
    return {"field": field, "code": code, "message": message}


def error_body(code: str, message: str) -> dict[str, Any]:
    """The API's error body for one refusal that names no field (for answers made outside DRF)."""
    return _body([_error(None, code, message)])


def _body(errors: list[dict[str, Any]]) -> dict[str, Any]:
    return {"errors": errors, "detail": errors[0]["message"] if errors else "Error."}


def _response(errors: list[dict[str, Any]], status_code: int) -> Response:
    return Response(_body(errors), status=status_code)
