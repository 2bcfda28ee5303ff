"""The audit log page: who changed what in a project (leads)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from curation.models import AuditEvent, Role
from curation.services.audit import FILTERS, audit_events
from curation.views.common import abilities, django_errors, int_param, project_for

PAGE_ROWS = 100
# Where an event's target is shown, by target type.
TARGET_PAGES = {
    "example": "example",
    "flag": "flag",
    "importjob": "import-detail",
    "datasetversion": "version",
    "trainingrun": "training-run",
    "comparison": "comparison",
    "deployment": "deployment",
}


@login_required
@django_errors
def audit_log(request: HttpRequest, project_id: int) -> HttpResponse:
    project = project_for(request, project_id, min_role=Role.LEAD)
    filters = {name: request.GET.get(name, "") for name in FILTERS}
    events = audit_events(project, filters)
    if before := int_param(request.GET.get("before"), "before"):
        events = events.filter(id__lt=before)
    page = list(events[: PAGE_ROWS + 1])
    choices = AuditEvent.objects.filter(project=project).order_by()
    context = {
        **abilities(request, project),
        "events": [(event, TARGET_PAGES.get(event.target_type)) for event in page[:PAGE_ROWS]],
        "older": page[PAGE_ROWS - 1].pk if len(page) > PAGE_ROWS else None,
        "filters": filters,
        "actors": sorted(set(choices.values_list("actor_name", flat=True))),
        "actions": sorted(set(choices.values_list("action", flat=True))),
        "target_types": sorted(set(choices.values_list("target_type", flat=True)) - {""}),
    }
    return render(request, "curation/audit.html", context)
