"""Training in the web UI: the project's runs with the launch form, a run's page with its live
loss curves, settings, reproducibility record, adapter and merged model, and the registered base
models."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from curation.errors import ApplicationError
from curation.models import Role, VersionStatus
from curation.roles import require_role
from curation.views.common import abilities, django_errors, int_param, project_for, signed_in
from training import registry, selectors
from training.base_models import offered_models, recommendations
from training.forms import TrainingRunForm
from training.hyperparameters import HYPERPARAMETER_DEFAULTS, LORA_DEFAULTS
from training.merged import merge_request, merged_record
from training.services import run_cancel, run_create

# Worked out again for the new run from its own schedule (hyperparameters.step_defaults).
STEP_INTERVALS = ("eval_steps", "checkpoint_steps", "logging_steps")


@login_required
@django_errors
def run_list(request: HttpRequest, project_id: int) -> HttpResponse:
    project = project_for(request, project_id)
    versions = project.versions.filter(status=VersionStatus.FROZEN).order_by("-number")
    base_models = offered_models()
    again = int_param(request.GET.get("again"), "again")
    initial = _settings_of(request, project_id, again) if again else None
    form = TrainingRunForm(versions=versions, base_models=base_models, initial=initial)
    if request.method == "POST":
        project = project_for(request, project_id, min_role=Role.LEAD)
        form = TrainingRunForm(request.POST, versions=versions, base_models=base_models)
        if form.is_valid():
            try:
                run = run_create(user=signed_in(request), **form.launch_arguments())
                number = selectors.run_get(user=request.user, run_id=run.pk).number  # type: ignore[attr-defined]
                messages.success(
                    request,
                    f"Training run {number} launched: a GPU worker (or a CPU one) takes it from the queue.",
                )
                return redirect("training-run", run_id=run.pk)
            except ApplicationError as exc:
                form.add_error(exc.field if exc.field in form.fields else None, exc.message)
    form.fields["base_model"].widget.attrs["list"] = "base-models"
    runs = selectors.run_list(user=request.user, filters={"project": str(project.pk)})
    context = {
        **abilities(request, project),
        "runs": runs,
        "form": form,
        "has_versions": versions.exists(),
        "base_models": base_models,
        "recommendations": recommendations(base_models),
    }
    return render(request, "training/runs.html", context)


def _settings_of(request: HttpRequest, project_id: int, run_id: int) -> dict[str, Any] | None:
    """An earlier run's version, model, name and settings as the launch form's starting values
    ("Launch again"): a cancelled or failed run need not be typed in again."""
    run = selectors.run_get(user=request.user, run_id=run_id)
    if run.version.project_id != project_id:
        return None
    settings = {**run.hyperparameters, **run.lora}
    defaults = {**HYPERPARAMETER_DEFAULTS, **LORA_DEFAULTS}
    fields = (*TrainingRunForm.HYPERPARAMETERS, *TrainingRunForm.LORA)
    carried = {  # what the form has no field for goes along, where the run did not use the default
        "hyperparameters": _changed(run.hyperparameters, HYPERPARAMETER_DEFAULTS, (*fields, *STEP_INTERVALS)),
        "lora": _changed(run.lora, LORA_DEFAULTS, fields),
    }
    return {
        "version": run.version_id,
        "base_model": run.registered_model.name if run.registered_model else run.base_model,
        "name": run.name,
        "carried": {section: values for section, values in carried.items() if values},
        # An empty field means the default ("gpus": "all" has no number to show)
        **{name: value for name, value in settings.items() if name in fields and value != defaults.get(name)},
    }


def _changed(values: dict[str, Any], defaults: dict[str, Any], skipped: tuple[str, ...]) -> dict[str, Any]:
    return {
        name: value
        for name, value in values.items()
        if name not in skipped and name in defaults and value != defaults[name]
    }


@login_required
@django_errors
def run_detail(request: HttpRequest, run_id: int) -> HttpResponse:
    run = selectors.run_get(user=request.user, run_id=run_id)
    merged = merged_record(run) if run.adapter_sha256 else None
    context = {**abilities(request, run.version.project), "run": run, "merged": merged}
    return render(request, "training/run.html", context)


@require_POST
@login_required
@django_errors
def run_cancel_view(request: HttpRequest, run_id: int) -> HttpResponse:
    run = selectors.run_get(user=request.user, run_id=run_id)
    require_role(request.user, run.version.project, Role.LEAD)
    number = run.number  # type: ignore[attr-defined]
    try:
        run = run_cancel(run=run, user=signed_in(request))
        messages.success(request, f"Run {number} is {run.status if run.is_finished else 'stopping'}.")
    except ApplicationError as exc:
        messages.error(request, exc.message)
    return redirect("training-run", run_id=run.pk)


@login_required
def base_model_list(request: HttpRequest) -> HttpResponse:
    """Every registered base model, for any signed-in user (registering is an operator's command)."""
    return render(request, "training/base_models.html", {"models": registry.base_model_list()})


@require_POST
@login_required
@django_errors
def run_merge_view(request: HttpRequest, run_id: int) -> HttpResponse:
    run = selectors.run_get(user=request.user, run_id=run_id)
    require_role(request.user, run.version.project, Role.LEAD)
    try:
        _, queued = merge_request(run=run, user=signed_in(request))
        messages.success(
            request,
            "Merge queued: a GPU worker folds the adapter into the base model."
            if queued
            else "The merged model is there already.",
        )
    except ApplicationError as exc:
        messages.error(request, exc.message)
    return redirect("training-run", run_id=run.pk)
