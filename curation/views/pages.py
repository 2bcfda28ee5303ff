"""Home, project dashboard and settings, health."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from curation import queues, selectors
from curation.errors import ApplicationError
from curation.forms import ProjectSettingsForm
from curation.models import Role, VersionStatus
from curation.services.projects import project_update
from curation.views.common import abilities, django_errors, project_for, signed_in


@login_required
def home(request: HttpRequest) -> HttpResponse:
    projects = selectors.project_list(user=request.user)
    return render(request, "curation/home.html", {"projects": projects})


@login_required
@django_errors
def project_dashboard(request: HttpRequest, project_id: int) -> HttpResponse:
    project = project_for(request, project_id)
    context = {
        **abilities(request, project),
        "board": queues.dashboard(project=project, user=signed_in(request)),
        "members": selectors.members_list(project=project),
        "imports": selectors.import_job_list(project=project)[:3],
        "latest_version": project.versions.filter(status=VersionStatus.FROZEN).order_by("-number").first(),
    }
    return render(request, "curation/project_dashboard.html", context)


@login_required
@django_errors
def project_settings(request: HttpRequest, project_id: int) -> HttpResponse:
    """Leads change the task settings (members have their own page, curation/views/people.py)."""
    project = project_for(request, project_id, min_role=Role.LEAD)
    form = ProjectSettingsForm(project=project)
    if request.method == "POST":
        form = ProjectSettingsForm(request.POST, project=project)
        if form.is_valid():
            try:
                project_update(project=project, user=signed_in(request), changes=form.changes())
                messages.success(request, "Settings saved.")
                return redirect("project-settings", project_id=project.pk)
            except ApplicationError as exc:
                form.add_error(exc.field if exc.field in form.fields else None, exc.message)
    context = {
        **abilities(request, project),
        "form": form,
    }
    return render(request, "curation/project_settings.html", context)
