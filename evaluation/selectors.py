"""Reads of eval runs and comparisons, for members of their project only."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from curation.errors import NotFound
from curation.models import Project, Role
from curation.roles import AnyUser, require_role
from curation.selectors import as_id
from evaluation.models import Comparison, EvalPrediction, EvalRun


def eval_run_list(*, user: AnyUser, filters: dict[str, str] | None = None) -> QuerySet[EvalRun]:
    filters = filters or {}
    runs = EvalRun.objects.select_related("version__project", "training_run", "created_by").filter(
        version__project__in=Project.objects.for_user(user)
    )
    if filters.get("project"):
        runs = runs.filter(version__project_id=as_id(filters["project"]))
    if filters.get("version"):
        runs = runs.filter(version_id=as_id(filters["version"]))
    return runs.order_by("-id")


def eval_run_get(*, user: AnyUser, run_id: Any, min_role: str = Role.ANNOTATOR) -> EvalRun:
    run = eval_run_list(user=user).filter(pk=as_id(run_id)).first()
    if run is None:
        raise NotFound("No such eval run.")
    require_role(user, run.version.project, min_role)
    return run


def predictions(*, run: EvalRun) -> QuerySet[EvalPrediction]:
    return run.predictions.order_by("id")


def comparison_list(*, user: AnyUser, version_id: Any = None) -> QuerySet[Comparison]:
    comparisons = Comparison.objects.select_related(
        "baseline__version__project", "candidate", "created_by"
    ).filter(baseline__version__project__in=Project.objects.for_user(user))
    if version_id:
        comparisons = comparisons.filter(baseline__version_id=as_id(version_id))
    return comparisons.order_by("-id")


def comparison_get(*, user: AnyUser, comparison_id: Any) -> Comparison:
    comparison = comparison_list(user=user).filter(pk=as_id(comparison_id)).first()
    if comparison is None:
        raise NotFound("No such comparison.")
    require_role(user, comparison.baseline.version.project, Role.ANNOTATOR)
    return comparison
