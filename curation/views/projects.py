"""Creating a project, its settings (labels, schema, guidelines), guidelines and validation jobs."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from curation import selectors
from curation.errors import ApplicationError
from curation.forms import ProjectCreateForm, ProjectFieldsForm, ProjectSettingsForm
from curation.markdown import render_markdown
from curation.models import Project, Role, ValidationJob
from curation.services.guidelines import guidelines_history, guidelines_mark_read
from curation.services.label_changes import SettingsImpact, project_settings_change, settings_impact
from curation.services.labeling_order import novelty_pending
from curation.services.projects import project_create, require_project_creator
from curation.services.stale_settings import SettingsChangedSince
from curation.services.validation_jobs import validation_job_create
from curation.views.common import abilities, django_errors, project_for, signed_in


@login_required
@django_errors
def project_new(request: HttpRequest) -> HttpResponse:
    """The new-project form; the creator becomes the project's lead."""
    require_project_creator(signed_in(request))
    form = ProjectCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            project = project_create(user=signed_in(request), **form.changes())
        except ApplicationError as exc:
            _form_error(form, exc)
        else:
            messages.success(request, f"Created {project.name}; you are its lead.")
            return redirect("project-dashboard", project_id=project.pk)
    return render(request, "curation/project_new.html", {"form": form})


@login_required
@django_errors
def project_settings(request: HttpRequest, project_id: int) -> HttpResponse:
    """Leads change the settings; new labels or schema that leave examples invalid (or rename
    labels) are counted first and saved only once confirmed."""
    project = project_for(request, project_id, min_role=Role.LEAD)
    form = ProjectSettingsForm(request.POST or None, project=project)
    impact = None
    if request.method == "POST" and form.is_valid():
        try:
            impact = _impact_to_confirm(project, form)
            if impact is None or "confirmed" in request.POST:
                return _save_settings(request, project, form, impact)
        except SettingsChangedSince as exc:
            form.reopen(exc.fields)
            form.add_error(None, exc.message)  # it may name several settings: at the form's top
        except ApplicationError as exc:
            _form_error(form, exc)
    return render(
        request, "curation/project_settings.html", _settings_context(request, project, form, impact)
    )


def _impact_to_confirm(project: Project, form: ProjectSettingsForm) -> SettingsImpact | None:
    """The impact of new labels or schema, when it touches existing examples; None otherwise."""
    changes = form.changes()
    labels = changes.get("labels", project.labels)  # left out: another lead's stay (stale_settings)
    output_schema = changes.get("output_schema", project.output_schema)
    if labels == project.labels and output_schema == project.output_schema:
        return None
    renames = form.cleaned_data.get("label_renames") or {}
    impact = settings_impact(project=project, labels=labels, output_schema=output_schema, renames=renames)
    return impact if impact.invalid or impact.renamed else None


def _save_settings(
    request: HttpRequest, project: Project, form: ProjectSettingsForm, impact: SettingsImpact | None
) -> HttpResponse:
    user = signed_in(request)
    with transaction.atomic():
        # The project read again under a lock: a save by another lead since this request read it
        # is weighed as one since the page opened (stale_settings), not saved over.
        project = form.project = Project.objects.select_for_update().get(pk=project.pk)
        relabeled = project_settings_change(
            project=project, user=user, changes=form.changes(), renames=form.renames()
        )
    note = f" Relabeled {_examples(relabeled.moved)}." if relabeled.moved else ""
    if relabeled.agreed:
        count = len(relabeled.agreed)
        note += (
            f" {count} disagreement flag{'s' if count > 1 else ''} settled: both answers now say the "
            "same label, so the example under it stays and the other is rejected."
        )
    if relabeled.left:
        shown = ", ".join(map(str, relabeled.left[:LISTED_IDS]))
        more = "" if len(relabeled.left) <= LISTED_IDS else f" and {len(relabeled.left) - LISTED_IDS} more"
        note += (
            f" Left under the old label: {_examples(len(relabeled.left))} (ids {shown}{more}), each the "
            "same input as an example already under the new one; reject or edit them."
        )
    if (impact.touched if impact else 0) > relabeled.moved + len(relabeled.agreed):
        # Flagged as format problems and kept out of versions until edited, rejected or resolved.
        job = validation_job_create(project=project, user=user)
        note += f" Validation job {job.pk} flags the examples that no longer fit."
    messages.success(request, "Settings saved." + note)
    return redirect("project-settings", project_id=project.pk)


LISTED_IDS = 10


def _examples(count: int) -> str:
    return "1 example" if count == 1 else f"{count} examples"


def _settings_context(
    request: HttpRequest, project: Project, form: ProjectSettingsForm, impact: SettingsImpact | None
) -> dict[str, Any]:
    return {
        **abilities(request, project),
        "form": form,
        "impact": impact,
        "validation_jobs": selectors.job_list(ValidationJob, project=project)[:5],
        "novelty_pending": novelty_pending(project),
    }


# Service fields shown under another name on the settings form.
FORM_FIELDS = {
    "labeling_overlap_share": "labeling_overlap_percent",
    "suggestion_blind_share": "labeling_blind_percent",
    "filler_words": "near_filler_words",
    "currency_folds": "near_currency_folds",
}


def _form_error(form: ProjectFieldsForm, exc: ApplicationError) -> None:
    field = FORM_FIELDS.get(str(exc.field), exc.field)
    form.add_error(field if field in form.fields else None, exc.message)


@login_required
@django_errors
def guidelines(request: HttpRequest, project_id: int) -> HttpResponse:
    """The project's guidelines and their earlier revisions; opening the page marks them read."""
    project = project_for(request, project_id)
    guidelines_mark_read(project=project, user=signed_in(request))
    revisions = [
        {"revision": revision, "html": render_markdown(revision.text)}
        for revision in guidelines_history(project=project)[:50]
    ]
    context = {
        **abilities(request, project),
        "html": render_markdown(project.guidelines),
        "revisions": revisions,
    }
    return render(request, "curation/guidelines.html", context)


@login_required
@require_POST
@django_errors
def guidelines_read(request: HttpRequest, project_id: int) -> HttpResponse:
    """The guidelines panel was opened: the current revision counts as read."""
    project = project_for(request, project_id)
    guidelines_mark_read(project=project, user=signed_in(request))
    return HttpResponse(status=204)


@login_required
@require_POST
@django_errors
def validation_job_start(request: HttpRequest, project_id: int) -> HttpResponse:
    """Start the validation job from the settings page; its row there shows the progress."""
    project = project_for(request, project_id, min_role=Role.LEAD)
    job = validation_job_create(project=project, user=signed_in(request))
    messages.success(request, f"Validation job {job.pk} started: invalid examples get format flags.")
    return redirect(reverse("project-settings", kwargs={"project_id": project.pk}) + "#validation")
