"""Home and the project dashboard."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from curation import queues, selectors
from curation.models import VersionStatus
from curation.services.projects import may_create_projects
from curation.views.common import abilities, django_errors, project_for, signed_in


@login_required
def home(request: HttpRequest) -> HttpResponse:
    projects = selectors.project_list(user=request.user)
    context = {"projects": projects, "may_create": may_create_projects(signed_in(request))}
    return render(request, "curation/home.html", context)


@login_required
@django_errors
def project_dashboard(request: HttpRequest, project_id: int) -> HttpResponse:
    project = project_for(request, project_id)
    context = {
        **abilities(request, project),
        "board": queues.dashboard(project=project, user=signed_in(request)),
        "queue_cap": queues.QUEUE_COUNT_CAP,
        "members": selectors.members_list(project=project),
        "imports": selectors.import_job_list(project=project)[:3],
        "latest_version": project.versions.filter(status=VersionStatus.FROZEN).order_by("-number").first(),
    }
    return render(request, "curation/project_dashboard.html", context)
