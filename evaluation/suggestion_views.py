"""Suggestion runs in the web UI: a project's runs with the launch form (leads), and a run's page
with its progress, prompt card, quality figures and some of its suggestions (reviewers read it)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from curation.errors import ApplicationError
from curation.models import JobStatus, Role
from curation.services.heartbeat import heartbeat_of
from curation.views.common import abilities, django_errors, project_for, signed_in
from evaluation import selectors
from evaluation.forms import SuggestionRunForm
from evaluation.suggestion_quality import SCOPE_LABELS, SCOPES, suggestion_quality
from evaluation.suggestions import shipped_runs, suggestion_run_cancel, suggestion_run_create
from training.base_models import offered_models

SHOWN = 50  # suggestions listed on a run's page; the API pages through all of them
# The service names the training run; the form offers it as the model.
FORM_FIELDS = {"training_run": "model"}


@login_required
@django_errors
def suggestion_runs(request: HttpRequest, project_id: int) -> HttpResponse:
    project = project_for(request, project_id, min_role=Role.LEAD)
    shipped = list(shipped_runs(project).order_by("-id"))
    form = SuggestionRunForm(request.POST or None, shipped=shipped)
    if request.method == "POST" and form.is_valid():
        try:
            arguments = form.launch_arguments(project)
            run = suggestion_run_create(project=project, user=signed_in(request), **arguments)
            messages.success(request, f"Suggestion run launched on {run.n_targets} inputs.")
            return redirect("suggestion_run", suggestion_run_id=run.pk)
        except ApplicationError as exc:
            field = FORM_FIELDS.get(exc.field or "", exc.field)
            form.add_error(field if field in form.fields else None, exc.message)
    base_models = offered_models()
    form.fields["base_model"].widget.attrs["list"] = "suggest-base-models"
    if len(base_models) == 1:  # the one registered model is the likely choice
        form.fields["base_model"].initial = base_models[0].name
    context = {
        **abilities(request, project),
        "runs": selectors.suggestion_run_list(user=request.user, project=project),
        "form": form,
        "base_models": base_models,
    }
    return render(request, "evaluation/suggestion_runs.html", context)


@login_required
@django_errors
def suggestion_run_detail(request: HttpRequest, suggestion_run_id: int) -> HttpResponse:
    run = selectors.suggestion_run_get(user=request.user, run_id=suggestion_run_id)
    succeeded = run.status == JobStatus.SUCCEEDED
    context = {
        **abilities(request, run.project),
        "run": run,
        "heartbeat": heartbeat_of(run),
        "quality": suggestion_quality(run) if succeeded else None,
        "scopes": [SCOPE_LABELS[scope] for scope in SCOPES],
        "suggestions": selectors.suggestions_of(run=run)[:SHOWN],
        "shown": SHOWN,
    }
    return render(request, "evaluation/suggestion_run.html", context)


@require_POST
@login_required
@django_errors
def suggestion_run_cancel_view(request: HttpRequest, suggestion_run_id: int) -> HttpResponse:
    run = selectors.suggestion_run_get(user=request.user, run_id=suggestion_run_id, min_role=Role.LEAD)
    number = run.number  # type: ignore[attr-defined]  # per project, as the pages show it
    try:
        run = suggestion_run_cancel(run=run, user=signed_in(request))
        messages.success(
            request, f"Suggestion run {number} is {run.status if run.is_finished else 'stopping'}."
        )
    except ApplicationError as exc:
        messages.error(request, exc.message)
    return redirect("suggestion_run", suggestion_run_id=run.pk)
