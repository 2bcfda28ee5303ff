"""Write, edit, read and browse examples; my work."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from curation import queues, selectors
from curation.errors import ApplicationError, Conflict
from curation.forms import ExampleForm
from curation.models import Example, ExampleStatus
from curation.provenance import example_provenance
from curation.search import search_bounded
from curation.services.embedding_cache import model_loaded
from curation.services.examples import example_create, example_update
from curation.services.similar import similar_examples
from curation.services.suggestion_use import latest_suggestion
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
def write(request: HttpRequest, project_id: int) -> HttpResponse:
    """A new example: save as draft or submit for review."""
    project = project_for(request, project_id)
    form = ExampleForm(project=project)
    if request.method == "POST":
        form = ExampleForm(request.POST, project=project)
        if form.is_valid():
            status = ExampleStatus.SUBMITTED if "submit" in request.POST else ExampleStatus.DRAFT
            try:
                example = example_create(
                    project=project, user=signed_in(request), status=status, **form.content()
                )
                messages.success(request, f"Example {example.pk} saved as {status}.")
                return redirect("write", project_id=project.pk)
            except ApplicationError as exc:
                _form_error(form, exc)
    return render(request, "curation/write.html", {**abilities(request, project), "form": form})


@login_required
@django_errors
def example_detail(request: HttpRequest, example_id: int) -> HttpResponse:
    """Read and edit one example; its history with the changes marked."""
    example = example_for(request, example_id)
    draft_suggestion = latest_suggestion(example=example) if not example.output else None
    initial = ExampleForm.initial_for(example)
    if draft_suggestion is not None:  # a draft without output: its suggestion, pre-filled
        initial["output"] = draft_suggestion.output
    form = ExampleForm(project=example.project, initial=initial)
    if request.method == "POST":
        form = ExampleForm(request.POST, project=example.project)
        if form.is_valid():
            before = example.revision
            updated = _save_edit(request, example, form)
            if updated is not None:
                messages.success(request, _saved_message(updated, before))
                return redirect("example", example_id=example.pk)
    context = {
        **abilities(request, example.project),
        "example": example,
        "draft_suggestion": draft_suggestion,
        "form": form,
        "history": history_with_changes(example),
        "provenance": example_provenance(example),
        "reviews": example.reviews.select_related("reviewer")[:20],
        "flags": example.flags.select_related("created_by").order_by("-id")[:20],
        "embedding_loaded": model_loaded(),
    }
    return render(request, "curation/example.html", context)


@login_required
@django_errors
def similar(request: HttpRequest, example_id: int) -> HttpResponse:
    """The examples nearest in meaning to this one (loaded into the example page on demand)."""
    example = example_for(request, example_id)
    context = {"example": example, "found": similar_examples(example)}
    return render(request, "curation/_similar.html", context)


def _save_edit(request: HttpRequest, example: Example, form: ExampleForm) -> Example | None:
    changes: dict[str, Any] = form.content()
    if "submit" in request.POST:
        changes["status"] = ExampleStatus.SUBMITTED
    try:
        return example_update(
            example=example, user=signed_in(request), revision=form.cleaned_data["revision"], changes=changes
        )
    except Conflict as exc:
        messages.error(
            request, f"{exc.message} Your text is kept below; the current version is in the history."
        )
    except ApplicationError as exc:
        _form_error(form, exc)
    return None


def _saved_message(example: Example, before: int) -> str:
    if example.revision == before:
        return f"Nothing changed: example {example.pk} is as it was."
    return (
        f"Example {example.pk} saved as revision {example.revision}, {example.get_status_display().lower()}."
    )


def _form_error(form: ExampleForm, exc: ApplicationError) -> None:
    field = exc.field if exc.field in form.fields else None
    if field == "input" and form.project.task_type == "chat":
        field = "messages"
    form.add_error(field, exc.message)


@login_required
@django_errors
def my_work(request: HttpRequest, project_id: int) -> HttpResponse:
    """My drafts and the examples sent back to me, with the reviewer's comment."""
    project = project_for(request, project_id)
    examples = queues.my_work(project=project, user=signed_in(request))[:200]
    return render(request, "curation/my_work.html", {**abilities(request, project), "examples": examples})


@login_required
@django_errors
def browse(request: HttpRequest, project_id: int) -> HttpResponse:
    """Every example, filtered, newest first, 50 at a time; a bad filter is named beside the filters."""
    project = project_for(request, project_id)
    filters = {name: request.GET.get(name, "").strip() for name in selectors.EXAMPLE_FILTERS}
    context: dict[str, Any] = {
        **abilities(request, project),
        "filters": filters,
        "statuses": ExampleStatus.choices,
    }
    try:
        examples = selectors.example_list(project=project, filters={k: v for k, v in filters.items() if v})
        with search_bounded(filters["q"]):
            page = queues.keyset_page(examples, before=int_param(request.GET.get("before"), "before"))
    except ApplicationError as exc:
        # A partial keeps 200 so htmx swaps the message in; the page itself answers 400.
        context["filter_error"] = exc.message
        status = 200 if is_htmx(request) else 400
        template = "curation/_browse_rows.html" if is_htmx(request) else "curation/browse.html"
        return render(request, template, context, status=status)
    context["page"] = page
    template = "curation/_browse_rows.html" if is_htmx(request) else "curation/browse.html"
    return render(request, template, context)
