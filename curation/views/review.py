"""The review queue: one submitted example at a time, decided from the keyboard.

Each step swaps only the card (htmx); a decision on a stale revision is refused and the card
comes back with the current content and a conflict message.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import render
from django.views.decorators.http import require_POST

from curation import queues, selectors
from curation.errors import ApplicationError, Conflict, InvalidInput
from curation.models import Example, Project, Role
from curation.provenance import example_provenance
from curation.services import duties
from curation.services.examples import example_review
from curation.services.review_undo import example_review_undo
from curation.views.common import (
    abilities,
    django_errors,
    example_for,
    history_with_changes,
    int_param,
    is_htmx,
    project_for,
    signed_in,
)


@login_required
@django_errors
def review_queue(request: HttpRequest, project_id: int) -> HttpResponse:
    """The queue page, or (htmx) the card after or before an example."""
    project = project_for(request, project_id, min_role=Role.REVIEWER)
    after, before = _position(request, "after"), _position(request, "before")
    skip = _skip_own_of(request, project)
    example = queues.review_neighbour(project=project, skip_own_of=skip, after=after, before=before)
    if example is None and before is not None:
        example = queues.review_neighbour(project=project, skip_own_of=skip, after=before - 1)
    return _card(request, project, example, skip, full_page=not is_htmx(request))


@login_required
@require_POST
@django_errors
def review_decide(request: HttpRequest, example_id: int) -> HttpResponse:
    """Record a decision, then show the next example (or this one again with the problem)."""
    example = example_for(request, example_id, min_role=Role.REVIEWER)
    project = example.project
    skip = _skip_own_of(request, project)
    try:
        example_review(
            example=example,
            user=signed_in(request),
            decision=request.POST.get("decision", ""),
            comment=request.POST.get("comment", ""),
            revision=int_param(request.POST.get("revision"), "revision"),
        )
    except Conflict:
        example.refresh_from_db()
        message = (
            "Someone changed or reviewed this example while you were reading it. Here is the current version."
        )
        return _card(request, project, example, skip, full_page=not is_htmx(request), problem=message)
    except ApplicationError as exc:
        return _card(request, project, example, skip, full_page=not is_htmx(request), problem=exc.message)
    following = _following(request, project, skip, example)
    done = f"Example {example.pk}: {example.get_status_display().lower()}."
    return _card(request, project, following, skip, full_page=not is_htmx(request), done=done, undo=example)


@login_required
@require_POST
@django_errors
def review_undo(request: HttpRequest, example_id: int) -> HttpResponse:
    """Undo the reviewer's own last decision on an example, then show that example again."""
    example = example_for(request, example_id, min_role=Role.REVIEWER)
    project = example.project
    skip = _skip_own_of(request, project)
    revision = int_param(request.POST.get("revision"), "revision")
    try:
        example = example_review_undo(example=example, user=signed_in(request), revision=revision)
    except ApplicationError as exc:
        following = queues.review_neighbour(project=project, skip_own_of=skip, after=example.pk)
        problem = f"Example {example.pk}: {exc.message}"
        return _card(request, project, following, skip, full_page=not is_htmx(request), problem=problem)
    done = f"Undone: example {example.pk} is {example.get_status_display().lower()} again."
    return _card(request, project, example, skip, full_page=not is_htmx(request), done=done)


def _following(request: HttpRequest, project: Project, skip: User | None, decided: Example) -> Example | None:
    """The card after a decision: the next in the queue, or (`then`, a decision on an alternative
    shown beside the card) the card it was made from, while that one still waits."""
    then = _position(request, "then", request.POST)
    if then is not None:
        shown = queues.review_neighbour(project=project, skip_own_of=skip, after=then - 1)
        if shown is not None and shown.pk == then:
            return shown
    return queues.review_neighbour(project=project, skip_own_of=skip, after=decided.pk)


def _skip_own_of(request: HttpRequest, project: Project) -> User | None:
    """The reviewer whose own work the queue leaves out, where separation of duties binds them."""
    user = signed_in(request)
    return user if duties.bound_by_rule(project, user) else None


def _position(request: HttpRequest, name: str, params: QueryDict | None = None) -> int | None:
    """Where the queue continues from; a position that is not an id starts it from the top (a
    stale or mangled link still opens the queue)."""
    try:
        return int_param((request.GET if params is None else params).get(name), name)
    except InvalidInput:
        return None


def _card(
    request: HttpRequest,
    project: Project,
    example: Example | None,
    skip_own_of: User | None,
    *,
    full_page: bool = False,
    problem: str = "",
    done: str = "",
    undo: Example | None = None,
) -> HttpResponse:
    context = {
        **abilities(request, project),
        "example": example,
        "undo": undo,
        "groups": selectors.example_open_groups(example=example) if example else {},
        "history": history_with_changes(example) if example else [],
        "provenance": example_provenance(example) if example else None,
        "problem": problem,
        "done": done,
        "remaining": queues.queue_size(project=project, skip_own_of=skip_own_of),
    }
    template = "curation/review.html" if full_page else "curation/_review_card.html"
    return render(request, template, context)
