"""Helpers the API tests share."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rest_framework.response import _MonkeyPatchedResponse as Response


def error_fields(response: Response) -> list[str | None]:
    """The `field` of every error in a Finch error body (after checking the body's shape)."""
    body = response.json()
    assert set(body) == {"errors", "detail"}, body
    assert body["errors"], body
    for error in body["errors"]:
        assert set(error) == {"field", "code", "message"}, error
    return [error["field"] for error in body["errors"]]
