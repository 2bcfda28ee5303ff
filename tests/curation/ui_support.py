"""Helpers shared by the web UI tests (tests/curation/test_ui_*.py)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.test import Client

from curation.models import Example, ExampleStatus, Project, Review
from curation.services.examples import example_create, example_review, example_update

HTMX: dict[str, Any] = {"HTTP_HX_REQUEST": "true"}


def logged_in(user: User | None, *, raise_errors: bool = True) -> Client:
    """A test client signed in as the user (anonymous for None)."""
    client = Client(raise_request_exception=raise_errors)
    if user is not None:
        client.force_login(user)
    return client


def text(response: Any) -> str:
    """The body of a test client response, as text."""
    return str(response.content.decode())


def followed_text(client: Client, response: Any) -> str:
    """The page a redirect leads to (where the flashed messages show)."""
    assert response.status_code == 302, response.status_code
    return text(client.get(response["Location"]))


def written(
    project: Project,
    user: User,
    input: Any,
    output: str = "card_arrival",
    *,
    status: str = ExampleStatus.SUBMITTED,
    **fields: Any,
) -> Example:
    """An example made the way the UI makes it (validated, with its content hash)."""
    return example_create(project=project, user=user, input=input, output=output, status=status, **fields)


def edited(example: Example, user: User, **changes: Any) -> Example:
    """The example after one more edit on its current revision."""
    example.refresh_from_db()
    return example_update(example=example, user=user, revision=example.revision, changes=changes)


def reviewed(example: Example, user: User, decision: str, comment: str = "") -> Review:
    example.refresh_from_db()
    return example_review(example=example, user=user, decision=decision, comment=comment)
