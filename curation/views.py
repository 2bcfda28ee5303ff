"""The web UI's pages; they read through the same selectors as the API."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.db import connection
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET

from curation import selectors
from curation.errors import ApplicationError, NotFound
from curation.forms import ImportForm
from curation.models import FlagStatus, ImportJob, Project, Role
from curation.roles import has_role, role_of
from curation.services.imports import import_job_create


@login_required
def home(request: HttpRequest) -> HttpResponse:
    projects = selectors.project_list(user=request.user)
    return render(request, "curation/home.html", {"projects": projects})


@login_required
def project_dashboard(request: HttpRequest, project_id: int) -> HttpResponse:
    project = _project_or_404(request, project_id)
    context = {
        "project": project,
        "counts": selectors.project_status_counts(project),
        "open_flags": project.flags.filter(status=FlagStatus.OPEN).count(),
        "members": selectors.members_list(project=project),
    }
    return render(request, "curation/project_dashboard.html", context)


@login_required
def import_page(request: HttpRequest, project_id: int) -> HttpResponse:
    """Upload a file to import, and see the project's recent imports."""
    project = _project_or_404(request, project_id)
    can_approve = has_role(role_of(request.user, project), Role.REVIEWER)
    form = ImportForm(can_approve=can_approve)
    if request.method == "POST":
        try:
            form = ImportForm(request.POST, request.FILES, can_approve=can_approve)
            if form.is_valid():
                job = _start_import(request, project, form.cleaned_data)
                return redirect("import-detail", job_id=job.pk)
        except ApplicationError as exc:  # too large, or a status the role may not set
            messages.error(request, exc.message)
    imports = selectors.import_job_list(project=project)[:20]
    return render(request, "curation/import.html", {"project": project, "form": form, "imports": imports})


def _start_import(request: HttpRequest, project: Project, data: dict[str, Any]) -> ImportJob:
    assert isinstance(request.user, User)
    return import_job_create(
        project=project,
        user=request.user,
        upload=data["file"],
        filename=data["file"].name,
        file_format=data["format"],
        input_field=data["input_field"],
        output_field=data["output_field"],
        status=data["status"],
    )


@login_required
def import_detail(request: HttpRequest, job_id: int) -> HttpResponse:
    """One import: live progress while it runs, then its counts and row errors."""
    try:
        job = selectors.import_job_get(user=request.user, job_id=job_id)
    except NotFound as exc:
        raise Http404(exc.message) from exc
    return render(request, "curation/import_detail.html", {"job": job, "project": job.project})


def _project_or_404(request: HttpRequest, project_id: int) -> Project:
    try:
        return selectors.project_get(user=request.user, project_id=project_id)
    except NotFound as exc:
        raise Http404(exc.message) from exc


@require_GET
def health(request: HttpRequest) -> JsonResponse:
    """Liveness and database reachability, for load balancers and `make run`."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok", "database": connection.vendor})
