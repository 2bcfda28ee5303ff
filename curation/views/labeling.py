"""The labeling queue in the browser: annotators take items and answer them from the keyboard;
leads queue inputs.

The item's latest model suggestion is shown pre-filled and marked as such; `a` submits it as the
answer, and editing the answer replaces it (curation.services.suggestion_use records which).
Items in the project's blind sample show none until answered: the next card says what the model
had suggested.

Like Review, each step swaps only the card (htmx). An answer or a skip the queue refuses (a label
not in the set, a claim that expired and whose slot was taken, a second submit) comes back as the
card with the reason: 200 for htmx, so the message is swapped in; 400 or 409 for a plain post.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from curation import labeling_selectors as labeling_reads
from curation import queues
from curation.errors import ApplicationError, Conflict, InvalidInput, NotFound
from curation.forms import ExampleForm, QueueInputsForm, from_browser
from curation.models import (
    SKIP_REASONS,
    AssignmentState,
    LabelingAssignment,
    LabelingItem,
    Project,
    Role,
    TaskType,
)
from curation.models.examples import decode_input
from curation.services.content import clip
from curation.services.labeling import annotation_submit, assignment_skip, items_enqueue, next_assignment
from curation.services.labeling_aside import items_requeue, items_set_aside
from curation.services.labeling_change import annotation_change
from curation.services.suggestion_use import confidence_text, shown_suggestion
from curation.views.common import abilities, django_errors, int_param, is_htmx, project_for, signed_in

# How many labeled items `k` walks back through (per project, in the signed-in session).
HISTORY = 50
MANY_LABELS = 9  # more labels than keys 1-9: a filterable list instead of numbered buttons


@login_required
@django_errors
def label(request: HttpRequest, project_id: int) -> HttpResponse:
    """The label page with the user's next item, or (htmx, `?item=`) one they labeled before."""
    project = project_for(request, project_id)
    item_id = int_param(request.GET.get("item"), "item")
    if item_id is None:
        return _next_card(request, project)
    assignment = queues.own_assignment(project=project, user=signed_in(request), item_id=item_id)
    return _card(request, project, assignment)


@login_required
@require_POST
@django_errors
def label_submit(request: HttpRequest, project_id: int) -> HttpResponse:
    """Record the user's answer, then show their next item (or this one with the problem)."""
    project = project_for(request, project_id)
    user = signed_in(request)
    item = _posted_item(request, project)
    answer = from_browser(request.POST.get("output", ""))
    try:
        answered = annotation_submit(
            item=item, user=user, output=answer, suggestion_id=request.POST.get("suggestion")
        )
    except InvalidInput as exc:
        problem = exc.message if answer.strip() else _answer_first(project)
        held = _claim_on(project, request, item)
        if held is None:
            return _next_card(request, project, problem=problem, status=400)
        return _card(request, project, held, problem=problem, answer=answer, status=400)
    except Conflict as exc:
        return _next_card(request, project, problem=exc.message, status=409)
    _remember(request, project, item.pk)
    done = f"Item {item.pk} labeled."
    revealed = _revealed(project, answered)
    if not is_htmx(request):
        messages.success(request, done)
        if revealed:
            messages.info(request, revealed)
        return redirect("label", project_id=project.pk)
    return _next_card(request, project, done=done, revealed=revealed)


@login_required
@require_POST
@django_errors
def label_change(request: HttpRequest, project_id: int) -> HttpResponse:
    """Change the user's answer to an item still waiting for others' answers; the same card
    again, with what happened."""
    project = project_for(request, project_id)
    user = signed_in(request)
    item = _posted_item(request, project)
    done, problem, status = "", "", 200
    try:
        annotation_change(item=item, user=user, output=from_browser(request.POST.get("output", "")))
        done = f"Your answer to item {item.pk} is changed."
    except ApplicationError as exc:
        problem, status = exc.message, exc.status_code
    assignment = queues.own_assignment(project=project, user=user, item_id=item.pk)
    return _card(request, project, assignment, done=done, problem=problem, status=status)


def _answer_first(project: Project) -> str:
    if project.task_type == TaskType.CLASSIFICATION:
        return "Pick a label first (its number key, or click it), then press Enter."
    return "Write the answer first, then press Ctrl+Enter (or the button)."


def _revealed(project: Project, answered: LabelingAssignment) -> str:
    """For an item of the blind sample, what the model had suggested, once the answer is in."""
    suggestion = answered.suggestion
    if suggestion is None or answered.suggestion_shown:
        return ""
    confidence = confidence_text(project.task_type, suggestion)
    return f"The model had suggested {clip(suggestion.output)!r} ({confidence}) for item {answered.item_id}."


@login_required
@require_POST
@django_errors
def label_skip(request: HttpRequest, project_id: int) -> HttpResponse:
    """Pass on the item the user holds; it goes back to the queue for the others."""
    project = project_for(request, project_id)
    item = _posted_item(request, project)
    try:
        if _claim_on(project, request, item) is None:
            raise Conflict(
                f"You do not hold item {item.pk} (your claim was released, or it was never yours)."
            )
        reason = request.POST.get("reason", "")
        assignment_skip(item=item, user=signed_in(request), reason=reason)
    except ApplicationError as exc:
        return _next_card(request, project, problem=exc.message, status=exc.status_code)
    because = f" ({reason.strip()})" if reason.strip() else ""
    done = f"Skipped item {item.pk}{because}; it will not come back to you."
    if not is_htmx(request):
        messages.success(request, done)
        return redirect("label", project_id=project.pk)
    return _next_card(request, project, done=done)


@login_required
@django_errors
def label_queue(request: HttpRequest, project_id: int) -> HttpResponse:
    """Leads paste inputs (one a line) into the queue and see the newest queued items: all, or
    those someone skipped, those nobody can take any more, those set aside."""
    project = project_for(request, project_id, min_role=Role.LEAD)
    form = QueueInputsForm(request.POST or None, project=project)
    if request.method == "POST" and _queued(request, project, form):
        return redirect("label-queue", project_id=project.pk)
    show = request.GET.get("show", "")
    stuck = labeling_reads.stuck_item_ids(project)
    page = queues.keyset_page(
        queues.labeling_items(project, show, stuck=stuck),
        before=int_param(request.GET.get("before"), "before"),
    )
    queues.with_disagreement_flags(page.rows)
    labeling_reads.with_skips(page.rows)
    context = {
        **abilities(request, project),
        "form": form,
        "page": page,
        "show": show,
        "shown": queues.LABELING_ITEM_VIEWS,
        "stuck": stuck,
        "waiting": queues.labeling_queue_size(project=project),
        "cap": queues.QUEUE_COUNT_CAP,
    }
    return render(request, "curation/label_queue.html", context, status=400 if form.errors else 200)


@login_required
@require_POST
@django_errors
def label_queue_move(request: HttpRequest, project_id: int) -> HttpResponse:
    """A lead sets queued items aside, or puts set-aside ones back in the queue (`action`): the
    items named, or (`stuck`) every item nobody can take any more."""
    project = project_for(request, project_id, min_role=Role.LEAD)
    if request.POST.get("stuck"):
        ids = labeling_reads.stuck_item_ids(project)
    else:
        ids = [
            item for value in request.POST.getlist("items") if (item := int_param(value, "items")) is not None
        ]
    move = {"set_aside": items_set_aside, "requeue": items_requeue}.get(request.POST.get("action", ""))
    if move is None:
        raise InvalidInput("action: set_aside or requeue.", field="action")
    try:
        moved = move(project=project, user=signed_in(request), item_ids=ids)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        done = "Set aside" if move is items_set_aside else "Put back in the queue, for everyone,"
        messages.success(request, f"{done} {len(moved)} input{'s' if len(moved) != 1 else ''}.")
    show = request.POST.get("show", "")
    target = reverse("label-queue", args=[project.pk])
    return redirect(f"{target}?{urlencode({'show': show})}" if show else target)


def _queued(request: HttpRequest, project: Project, form: QueueInputsForm) -> bool:
    """Queue the pasted inputs, saying how many; False (with the problem on the form) if refused."""
    if not form.is_valid():
        return False
    try:
        queued = items_enqueue(
            project=project, user=signed_in(request), inputs=form.rows(), row_names=form.row_names()
        )
    except ApplicationError as exc:
        form.add_error("inputs", exc.message)
        return False
    messages.success(
        request, f"Queued {len(queued.created)} input(s); {queued.already_queued} already queued."
    )
    return True


def _posted_item(request: HttpRequest, project: Project) -> LabelingItem:
    """The item named in the form, in this project: 400 for a missing or mangled id, 404 for
    an item the project does not have."""
    item_id = int_param(request.POST.get("item"), "item")
    if item_id is None:
        raise InvalidInput("Say which item: item is missing.", field="item")
    item = LabelingItem.objects.filter(project=project, pk=item_id).select_related("project").first()
    if item is None:
        raise NotFound(f"No item {item_id} in this project's labeling queue.")
    return item


def _claim_on(project: Project, request: HttpRequest, item: LabelingItem) -> LabelingAssignment | None:
    """The user's claim on the item (live or expired but not yet released), if any."""
    try:
        assignment = queues.own_assignment(project=project, user=signed_in(request), item_id=item.pk)
    except NotFound:
        return None
    return assignment if assignment.state == AssignmentState.CLAIMED else None


def _history_key(project: Project) -> str:
    return f"labeled-{project.pk}"


def _remember(request: HttpRequest, project: Project, item_id: int) -> None:
    history = [pk for pk in request.session.get(_history_key(project), []) if pk != item_id]
    request.session[_history_key(project)] = [*history, item_id][-HISTORY:]


def _neighbours(request: HttpRequest, project: Project, item_id: int | None) -> tuple[int | None, int | None]:
    """The items before and after this one among those the user labeled in this session; the
    item after the last is the queue (None)."""
    history: list[int] = request.session.get(_history_key(project), [])
    if item_id not in history:
        return (history[-1] if history else None), None
    at = history.index(item_id)
    before = history[at - 1] if at > 0 else None
    after = history[at + 1] if at + 1 < len(history) else None
    return before, after


def _next_card(
    request: HttpRequest,
    project: Project,
    *,
    done: str = "",
    problem: str = "",
    revealed: str = "",
    status: int = 200,
) -> HttpResponse:
    assignment = next_assignment(project=project, user=signed_in(request))
    return _card(request, project, assignment, done=done, problem=problem, revealed=revealed, status=status)


def _card(
    request: HttpRequest,
    project: Project,
    assignment: LabelingAssignment | None,
    *,
    done: str = "",
    problem: str = "",
    revealed: str = "",
    answer: str = "",
    status: int = 200,
) -> HttpResponse:
    full_page = not is_htmx(request)
    context = {**abilities(request, project), **_card_context(request, project, assignment)}
    context.update(done=done, problem=problem, revealed=revealed)
    if assignment is not None and assignment.state == AssignmentState.CLAIMED:
        suggestion = shown_suggestion(assignment.item)
        # Pre-filled with the suggestion: submitting it unchanged accepts it, editing replaces it.
        answer = answer or (suggestion.output if suggestion is not None else "")
        context["form"] = ExampleForm(project=project, initial={"output": answer})
        context["answer"] = answer
        context["suggestion"] = suggestion
    template = "curation/label.html" if full_page else "curation/_label_card.html"
    # A refusal swapped in by htmx keeps 200: htmx swaps no 4xx body.
    return render(request, template, context, status=status if full_page else 200)


def _card_context(
    request: HttpRequest, project: Project, assignment: LabelingAssignment | None
) -> dict[str, Any]:
    item = assignment.item if assignment else None
    back, forward = _neighbours(request, project, item.pk if item else None)
    now = timezone.now()
    return {
        "assignment": assignment,
        "item": item,
        "item_input": decode_input(project.task_type, item.input) if item else None,
        "claimed": assignment is not None and assignment.state == AssignmentState.CLAIMED,
        "expired": bool(assignment and assignment.expires_at and assignment.expires_at <= now),
        "back": back,
        "forward": forward,
        "many_labels": len(project.labels) > MANY_LABELS,
        "skip_reasons": SKIP_REASONS,
        "remaining": queues.labeling_queue_size(project=project, user=signed_in(request)),
        "cap": queues.QUEUE_COUNT_CAP,
    }
