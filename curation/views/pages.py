"""Home, project dashboard, members."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from curation import queues, selectors
from curation.errors import ApplicationError
from curation.forms import MemberForm
from curation.models import Role, VersionStatus
from curation.services.projects import may_create_projects, membership_remove, membership_set
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
        "members": selectors.members_list(project=project),
        "imports": selectors.import_job_list(project=project)[:3],
        "latest_version": project.versions.filter(status=VersionStatus.FROZEN).order_by("-number").first(),
    }
    return render(request, "curation/project_dashboard.html", context)


@login_required
@require_POST
@django_errors
def project_member(request: HttpRequest, project_id: int) -> HttpResponse:
    """Add a member, change a role, or remove a member (the `remove` button)."""
    project = project_for(request, project_id, min_role=Role.LEAD)
    form = MemberForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Give a username and a role.")
        return redirect("project-settings", project_id=project.pk)
    username = form.cleaned_data["username"]
    try:
        if "remove" in request.POST:
            membership_remove(project=project, user=signed_in(request), username=username)
            messages.success(request, f"{username} was removed.")
        else:
            membership_set(
                project=project, user=signed_in(request), username=username, role=form.cleaned_data["role"]
            )
            messages.success(request, f"{username} is now {form.cleaned_data['role']}.")
    except ApplicationError as exc:
        messages.error(request, exc.message)
    return redirect("project-settings", project_id=project.pk)
