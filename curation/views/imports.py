"""Bulk import pages: upload, then live progress and the row errors."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from curation import selectors
from curation.errors import ApplicationError
from curation.forms import ImportForm
from curation.models import ImportJob, Project
from curation.services.imports import import_job_create
from curation.views.common import abilities, django_errors, project_for, signed_in


@login_required
@django_errors
def import_page(request: HttpRequest, project_id: int) -> HttpResponse:
    """Upload a file to import, and see the project's recent imports."""
    project = project_for(request, project_id)
    allowed = abilities(request, project)
    roles = {"can_approve": allowed["can_review"], "is_lead": allowed["is_lead"]}
    form, status = ImportForm(**roles), 200
    if request.method == "POST":
        try:
            form = ImportForm(request.POST, request.FILES, **roles)
            if form.is_valid():
                job = _start_import(request, project, form.cleaned_data)
                return redirect("import-detail", job_id=job.pk)
        except ApplicationError as exc:  # too large (413), or a status the role may not set
            messages.error(request, exc.message)
            status = exc.status_code
    imports = selectors.import_job_list(project=project)[:20]
    context = {**allowed, "form": form, "imports": imports}
    return render(request, "curation/import.html", context, status=status)


def _start_import(request: HttpRequest, project: Project, data: dict[str, Any]) -> ImportJob:
    return import_job_create(
        project=project,
        user=signed_in(request),
        upload=data["file"],
        filename=data["file"].name,
        file_format=data["format"],
        input_field=data["input_field"],
        output_field=data["output_field"],
        status=data["status"],
    )


@login_required
@django_errors
def import_detail(request: HttpRequest, job_id: int) -> HttpResponse:
    """One import: live progress while it runs, then its counts and row errors."""
    job = selectors.import_job_get(user=request.user, job_id=job_id)
    return render(request, "curation/import_detail.html", {**abilities(request, job.project), "job": job})
