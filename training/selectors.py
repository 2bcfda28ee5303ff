"""Reads of training runs, for members of the run's project only."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from curation.errors import InvalidInput, NotFound
from curation.models import JobStatus, Project, Role
from curation.roles import AnyUser, require_role
from curation.selectors import as_id
from training.models import TrainingRun


def run_list(*, user: AnyUser, filters: dict[str, str] | None = None) -> QuerySet[TrainingRun]:
    """Runs of the user's projects, newest first; `project`, `version` and `status` narrow it."""
    filters = filters or {}
    runs = TrainingRun.objects.select_related("version__project", "created_by").filter(
        version__project__in=Project.objects.for_user(user)
    )
    if filters.get("project"):
        runs = runs.filter(version__project_id=as_id(filters["project"]))
    if filters.get("version"):
        runs = runs.filter(version_id=as_id(filters["version"]))
    if filters.get("status"):
        if filters["status"] not in JobStatus.values:
            raise InvalidInput(
                f"Unknown status {filters['status']!r}; use one of {', '.join(JobStatus.values)}.",
                field="status",
            )
        runs = runs.filter(status=filters["status"])
    return runs.order_by("-id")


def run_get(*, user: AnyUser, run_id: Any, min_role: str = Role.ANNOTATOR) -> TrainingRun:
    """A run for a member of its project (NotFound for anyone else, so ids leak nothing)."""
    run = run_list(user=user).filter(pk=as_id(run_id)).first()
    if run is None:
        raise NotFound("No such training run.")
    require_role(user, run.version.project, min_role)
    return run
