"""The team page (reviewers and leads): how far the annotators agree, per label and per pair, who
labels what and how fast, and which labels they mix up."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from curation.agreement import alpha_reading
from curation.agreement_selectors import project_agreement
from curation.models import Role
from curation.views.common import abilities, django_errors, project_for


@login_required
@require_GET
@django_errors
def team(request: HttpRequest, project_id: int) -> HttpResponse:
    project = project_for(request, project_id, min_role=Role.REVIEWER)
    figures = project_agreement(project=project)
    level, reading = alpha_reading(figures["alpha"]["value"])
    confusion = figures["confusion"]
    context = {
        **abilities(request, project),
        "figures": figures,
        "level": level,
        "reading": reading,
        "confusion_rows": list(zip(confusion["labels"], confusion["table"], strict=True)),
    }
    return render(request, "curation/team.html", context)
