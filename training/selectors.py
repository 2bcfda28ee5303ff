"""Reads of training runs, for members of the run's project only."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from curation import filters as query
from curation.errors import NotFound
from curation.models import JobStatus, Project, Role
from curation.numbering import numbered
from curation.roles import AnyUser, require_role
from curation.selectors import as_id
from training.models import TrainingRun


def run_list(*, user: AnyUser, filters: dict[str, str] | None = None) -> QuerySet[TrainingRun]:
    """Runs of the user's projects, newest first, each with its per-project `number`; `project`,
    `version` and `status` narrow it."""
    filters = filters or {}
    runs = TrainingRun.objects.select_related("version__project", "created_by", "registered_model").filter(
        version__project__in=Project.objects.for_user(user)
    )
    if (project_id := query.object_id(filters.get("project"), "project")) is not None:
        runs = runs.filter(version__project_id=project_id)
    if (version_id := query.object_id(filters.get("version"), "version")) is not None:
        runs = runs.filter(version_id=version_id)
    if status := query.choice(filters.get("status"), JobStatus.values, "status"):
        runs = runs.filter(status=status)
    return numbered(runs, "version__project").order_by("-id")


def run_get(*, user: AnyUser, run_id: Any, min_role: str = Role.ANNOTATOR) -> TrainingRun:
    """A run for a member of its project (NotFound for anyone else, so ids leak nothing)."""
    run = run_list(user=user).filter(pk=as_id(run_id)).first()
    if run is None:
        raise NotFound("No such training run.")
    require_role(user, run.version.project, min_role)
    return run


def run_number(run: TrainingRun) -> int:
    """The run's per-project number, as pages show it ("Run 2"): the selectors' annotation where
    the run came through one, else `numbered`'s own count."""
    number = getattr(run, "number", None)
    if number is None:
        counted = numbered(TrainingRun.objects.filter(pk=run.pk), "version__project").get()
        number = counted.number  # type: ignore[attr-defined]  # numbered's annotation
    return int(number)


def run_label(run: TrainingRun) -> str:
    """How a message names a run: its number as the pages show it, and the id the API takes
    ("training run 2 (id 17)"; `.capitalize()` it to start a sentence)."""
    return f"training run {run_number(run)} (id {run.pk})"
