"""Reads of eval runs, comparisons, deployments and suggestion runs, for members of their
project only."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, OuterRef, QuerySet, Subquery

from curation import filters as query
from curation.errors import InvalidInput, NotFound
from curation.models import Project, Role, Suggestion
from curation.numbering import numbered
from curation.roles import AnyUser, require_role
from curation.selectors import as_id
from evaluation.models import (
    Comparison,
    Deployment,
    DriftReport,
    DriftReportJob,
    EvalPrediction,
    EvalRun,
    LiveSample,
    SuggestionRun,
)
from training.models import TrainingRun


def eval_run_list(*, user: AnyUser, filters: dict[str, str] | None = None) -> QuerySet[EvalRun]:
    filters = filters or {}
    runs = EvalRun.objects.select_related(
        "version__project", "training_run", "registered_model", "created_by"
    ).filter(version__project__in=Project.objects.for_user(user))
    if (project_id := query.object_id(filters.get("project"), "project")) is not None:
        runs = runs.filter(version__project_id=project_id)
    if (version_id := query.object_id(filters.get("version"), "version")) is not None:
        runs = runs.filter(version_id=version_id)
    runs = numbered(runs, "version__project")
    training = numbered(
        runs, "version__project", name="training_number", id_field="training_run_id", of=TrainingRun
    )
    return training.order_by("-id")


def eval_run_get(*, user: AnyUser, run_id: Any, min_role: str = Role.ANNOTATOR) -> EvalRun:
    run = eval_run_list(user=user).filter(pk=as_id(run_id)).first()
    if run is None:
        raise NotFound("No such eval run.")
    require_role(user, run.version.project, min_role)
    return run


def predictions(*, run: EvalRun) -> QuerySet[EvalPrediction]:
    return run.predictions.order_by("id")


def comparison_list(*, user: AnyUser, version_id: int | None = None) -> QuerySet[Comparison]:
    comparisons = Comparison.objects.select_related(
        "baseline__version__project", "candidate", "created_by"
    ).filter(baseline__version__project__in=Project.objects.for_user(user))
    if version_id is not None:
        comparisons = comparisons.filter(baseline__version_id=version_id)
    project = "baseline__version__project"
    comparisons = numbered(comparisons, project)
    for side in ("baseline", "candidate"):
        comparisons = numbered(
            comparisons,
            project,
            name=f"{side}_number",
            id_field=f"{side}_id",
            of=EvalRun,
            of_project="version__project",
        )
    return comparisons.order_by("-id")


def comparison_get(*, user: AnyUser, comparison_id: Any) -> Comparison:
    comparison = comparison_list(user=user).filter(pk=as_id(comparison_id)).first()
    if comparison is None:
        raise NotFound("No such comparison.")
    require_role(user, comparison.baseline.version.project, Role.ANNOTATOR)
    return comparison


def deployment_list(*, user: AnyUser, project_id: int | None = None) -> QuerySet[Deployment]:
    deployments = Deployment.objects.select_related("training_run__version__project", "created_by").filter(
        training_run__version__project__in=Project.objects.for_user(user)
    )
    if project_id is not None:
        deployments = deployments.filter(training_run__version__project_id=project_id)
    project = "training_run__version__project"
    deployments = numbered(
        deployments,
        project,
        name="training_number",
        id_field="training_run_id",
        of=TrainingRun,
        of_project="version__project",
    )
    return _with_samples_received(deployments).order_by("-id")


def _with_samples_received(deployments: QuerySet[Deployment]) -> QuerySet[Deployment]:
    """Annotated with `samples_received`: every sample ever posted, whatever its date (a report
    counts only those in its window), so the list and a deployment's page give the same total."""
    received = (
        LiveSample.objects.filter(deployment=OuterRef("pk"))
        .order_by()
        .values("deployment")
        .annotate(n=Count("id"))
        .values("n")
    )
    return deployments.annotate(samples_received=Subquery(received))


def deployment_get(*, user: AnyUser, deployment_id: Any, min_role: str = Role.ANNOTATOR) -> Deployment:
    deployment = deployment_list(user=user).filter(pk=as_id(deployment_id)).first()
    if deployment is None:
        raise NotFound("No such deployment.")
    require_role(user, deployment.training_run.version.project, min_role)
    return deployment


def report_get(*, user: AnyUser, report_id: Any, min_role: str = Role.ANNOTATOR) -> DriftReport:
    report = (
        DriftReport.objects.select_related("deployment__training_run__version__project")
        .filter(
            pk=as_id(report_id), deployment__training_run__version__project__in=Project.objects.for_user(user)
        )
        .first()
    )
    if report is None:
        raise NotFound("No such drift report.")
    require_role(user, report.deployment.training_run.version.project, min_role)
    return report


def drift_report_job_get(*, user: AnyUser, job_id: Any) -> DriftReportJob:
    job = (
        DriftReportJob.objects.select_related("deployment__training_run__version__project", "created_by")
        .filter(
            pk=as_id(job_id), deployment__training_run__version__project__in=Project.objects.for_user(user)
        )
        .first()
    )
    if job is None:
        raise NotFound("No such drift report job.")
    require_role(user, job.deployment.training_run.version.project, Role.ANNOTATOR)
    return job


def suggestion_run_list(*, user: AnyUser, project: Project) -> QuerySet[SuggestionRun]:
    """The project's suggestion runs, newest first, numbered per project (the caller checks the role)."""
    runs = SuggestionRun.objects.select_related(
        "project", "training_run", "registered_model", "created_by"
    ).filter(project=project, project__in=Project.objects.for_user(user))
    return numbered(runs, "project").order_by("-id")


def suggestion_run_get(*, user: AnyUser, run_id: Any, min_role: str = Role.REVIEWER) -> SuggestionRun:
    """A run of one of the user's projects; reviewers and leads read them, leads act on them."""
    run = (
        numbered(
            SuggestionRun.objects.select_related("project", "training_run", "registered_model", "created_by"),
            "project",
        )
        .filter(pk=as_id(run_id), project__in=Project.objects.for_user(user))
        .first()
    )
    if run is None:
        raise NotFound("No such suggestion run.")
    require_role(user, run.project, min_role)
    return run


def suggestions_of(*, run: SuggestionRun) -> QuerySet[Suggestion]:
    """The run's suggestions with the input each is for (a queued item's or a draft's)."""
    return Suggestion.objects.filter(run=run).select_related("item", "example").order_by("id")


def project_training_run(*, project: Project, run_id: int) -> TrainingRun:
    """A training run of this project by id; InvalidInput naming `training_run` otherwise."""
    run = TrainingRun.objects.filter(pk=run_id, version__project=project).first()
    if run is None:
        raise InvalidInput(f"training_run: the project has no training run {run_id}.", field="training_run")
    return run
