"""The web UI's pages; they read through the same selectors as the API."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from curation import selectors
from curation.errors import NotFound
from curation.models import FlagStatus


@login_required
def home(request: HttpRequest) -> HttpResponse:
    projects = selectors.project_list(user=request.user)
    return render(request, "curation/home.html", {"projects": projects})


@login_required
def project_dashboard(request: HttpRequest, project_id: int) -> HttpResponse:
    try:
        project = selectors.project_get(user=request.user, project_id=project_id)
    except NotFound as exc:
        raise Http404(exc.message) from exc
    context = {
        "project": project,
        "counts": selectors.project_status_counts(project),
        "open_flags": project.flags.filter(status=FlagStatus.OPEN).count(),
        "members": selectors.members_list(project=project),
    }
    return render(request, "curation/project_dashboard.html", context)


@require_GET
def health(request: HttpRequest) -> JsonResponse:
    """Liveness and database reachability, for load balancers and `make run`."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok", "database": connection.vendor})
