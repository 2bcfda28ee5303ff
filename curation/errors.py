"""The one application error type; api.exceptions turns it into a 4xx body."""

from __future__ import annotations


class ApplicationError(Exception):
    """A request Finch refuses, with a message that names the problem."""

    status_code = 400
    code = "invalid"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidInput(ApplicationError):
    status_code = 400
    code = "invalid"


class PermissionDenied(ApplicationError):
    status_code = 403
    code = "permission_denied"


class NotFound(ApplicationError):
    status_code = 404
    code = "not_found"


class Conflict(ApplicationError):
    status_code = 409
    code = "conflict"


class TooLarge(ApplicationError):
    status_code = 413
    code = "too_large"


class Gone(ApplicationError):
    status_code = 410
    code = "gone"
