from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from curation import filters as query
from curation import selectors
from curation.errors import ApplicationError, NotFound, PermissionDenied
from curation.models import Example, Flag, Project, Role
from curation.roles import has_role, role_of
from curation.textdiff import word_diff

View = Callable[..., HttpResponse]


def signed_in(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)
    return user


def django_errors(view: View) -> View:
    """Selector refusals become Django's 404 / 403 pages."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except NotFound as exc:
            raise Http404(exc.message) from exc
        except PermissionDenied as exc:
            raise DjangoPermissionDenied(exc.message) from exc
        except ApplicationError as exc:  # a bad filter or parameter in the URL
            return render(request, "400.html", {"message": exc.message}, status=400)

    return wrapped


def project_for(request: HttpRequest, project_id: int, min_role: str = Role.ANNOTATOR) -> Project:
    return selectors.project_get(user=request.user, project_id=project_id, min_role=min_role)


def example_for(request: HttpRequest, example_id: int, min_role: str = Role.ANNOTATOR) -> Example:
    return selectors.example_get(user=request.user, example_id=example_id, min_role=min_role)


def flag_for(request: HttpRequest, flag_id: int, min_role: str = Role.ANNOTATOR) -> Flag:
    return selectors.flag_get(user=request.user, flag_id=flag_id, min_role=min_role)


def abilities(request: HttpRequest, project: Project) -> dict[str, Any]:
    """What the page may offer this user: templates hide what the role may not do."""
    role = role_of(request.user, project)
    return {
        "project": project,
        "role": role,
        "can_review": has_role(role, Role.REVIEWER),
        "is_lead": has_role(role, Role.LEAD),
    }


def int_param(value: str | None, name: str) -> int | None:
    """A whole number from the query or a form (an id, a page's `before`), None when absent;
    InvalidInput names anything else (django_errors makes it a 400 page)."""
    return query.whole_number(value, name)


def history_with_changes(example: Example) -> list[dict[str, Any]]:
    """Each revision, newest first, with the word changes from the one before it."""
    revisions = selectors.example_history(example=example)
    return [
        {
            "revision": newer,
            "input_diff": word_diff(older.input if older else "", newer.input),
            "output_diff": word_diff(older.output if older else "", newer.output),
        }
        for newer, older in zip(revisions, [*revisions[1:], None], strict=True)
    ]


def is_htmx(request: HttpRequest) -> bool:
    """A partial request from htmx (django-htmx sets request.htmx)."""
    return bool(getattr(request, "htmx", False))
