"""Export pages: start an export job from the browse page, the dashboard or a version, then
follow its progress and download the file once it is whole."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from curation import selectors
from curation.errors import ApplicationError
from curation.services.export_jobs import export_job_create, version_export_job_create
from curation.views.common import abilities, django_errors, project_for, signed_in


@login_required
@require_POST
@django_errors
def export_start(request: HttpRequest, project_id: int) -> HttpResponse:
    """Export the examples that match the posted filters, in the posted format, as a job."""
    project = project_for(request, project_id)
    filters = {name: request.POST.get(name, "").strip() for name in selectors.EXAMPLE_FILTERS}
    try:
        job = export_job_create(
            project=project,
            user=signed_in(request),
            file_format=request.POST.get("format", "jsonl"),
            filters=filters,
        )
    except ApplicationError as exc:  # a filter or format the form could not have sent
        messages.error(request, exc.message)
        return redirect("browse", project_id=project.pk)
    return redirect("export-detail", job_id=job.pk)


@login_required
@require_POST
@django_errors
def version_export_start(request: HttpRequest, version_id: int) -> HttpResponse:
    """Export a version's split in a fine-tuning format as a job (for versions too large to
    render within a request)."""
    version = selectors.version_get(user=request.user, version_id=version_id)
    try:
        job = version_export_job_create(
            version=version,
            user=signed_in(request),
            split=request.POST.get("split", "all"),
            file_format=request.POST.get("format", "jsonl"),
        )
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect("version", version_id=version.pk)
    return redirect("export-detail", job_id=job.pk)


@login_required
@django_errors
def export_detail(request: HttpRequest, job_id: int) -> HttpResponse:
    """One export: live progress while it runs, then its download, row count and sha256."""
    job = selectors.export_job_get(user=request.user, job_id=job_id)
    return render(request, "curation/export_detail.html", {**abilities(request, job.project), "job": job})
