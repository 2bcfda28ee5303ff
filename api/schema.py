"""The OpenAPI schema describes the refusals too: every operation lists the 4xx it can answer, each
with the one error body of api/exceptions.py, so that clients (and the schema tests) can rely on it."""

from __future__ import annotations

from typing import Any

from drf_spectacular.openapi import AutoSchema
from rest_framework import serializers

WRITES = {"POST", "PUT", "PATCH", "DELETE"}
ERRORS = {
    400: "Bad input: the errors name each field and problem.",
    401: "No credentials, or a token or session that is not valid.",
    403: "Signed in, but the role in the project does not allow it.",
    404: "No such object, or it belongs to a project you are not a member of.",
    409: "Conflicts with the object's state (a stale revision, a frozen version, a finished run...).",
    413: "The request body or upload is too large.",
    415: "The request body's content type is not accepted.",
    429: "Too many requests; the Retry-After header says when to try again.",
    503: "The database is unavailable; nothing was changed. Try again after Retry-After.",
}


class ErrorDetail(serializers.Serializer):
    field = serializers.CharField(allow_null=True, help_text="The input field, dotted for nested ones.")
    code = serializers.CharField()
    message = serializers.CharField()


class ErrorOutput(serializers.Serializer):
    """Every 4xx body (api/exceptions.py)."""

    errors = ErrorDetail(many=True)  # type: ignore[assignment]  # a field named like Serializer.errors
    detail = serializers.CharField(help_text="The first error's message.")


class FinchAutoSchema(AutoSchema):
    """drf-spectacular's schema, plus the error responses of each operation."""

    def get_operation(self, *args: Any, **kwargs: Any) -> dict[str, Any] | None:
        operation = super().get_operation(*args, **kwargs)
        if operation is None:
            return None
        error = {"application/json": {"schema": self.resolve_serializer(ErrorOutput, "response").ref}}
        for code in self._error_codes(operation):
            operation["responses"].setdefault(str(code), {"description": ERRORS[code], "content": error})
        return operation

    def _error_codes(self, operation: dict[str, Any]) -> list[int]:
        has_body = "requestBody" in operation
        has_query = any(parameter["in"] == "query" for parameter in operation.get("parameters", []))
        # The token endpoint needs no user, but a token that is not valid is refused there too (401),
        # and so is a session without its CSRF token (403).
        scoped = bool(self.view.permission_classes)
        codes = [401, 403]
        if has_body or has_query:
            codes.append(400)
        if scoped:
            codes.append(404)
        # A read conflicts too where what it fetches is not there yet (an adapter before its run
        # succeeded): such views say so with `conflicts_on_read`.
        if scoped and (self.method in WRITES or getattr(self.view, "conflicts_on_read", False)):
            codes.append(409)
        if has_body:
            codes += [413, 415]
        if self.view.throttle_classes:
            codes.append(429)
        return [*codes, 503]  # config.health.DatabaseUnavailableMiddleware
