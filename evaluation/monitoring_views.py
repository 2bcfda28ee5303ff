"""Monitoring in the web UI: a project's deployments, and a deployment's drift over time with
its alerts, from which out-of-distribution inputs go to the annotators."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from curation.errors import ApplicationError, InvalidInput
from curation.models import JobStatus, Role
from curation.numbering import numbered
from curation.views.common import abilities, django_errors, project_for, signed_in
from evaluation import selectors
from evaluation.drift import DEFAULT_THRESHOLDS
from evaluation.drift_jobs import drift_report_job_create, pending_jobs
from evaluation.models import DriftReport
from evaluation.monitoring import deployment_create, input_figure_alerts, ood_to_annotation
from evaluation.suggestions import shipped_runs
from training import selectors as training_selectors
from training.models import TrainingRun

CHART_REPORTS = 60
CHART_WIDTH, CHART_HEIGHT, CHART_PAD = 600, 160, 30


@login_required
@django_errors
def deployment_list(request: HttpRequest, project_id: int) -> HttpResponse:
    project = project_for(request, project_id)
    if request.method == "POST":
        project = project_for(request, project_id, min_role=Role.LEAD)
        try:
            run = training_selectors.run_get(
                user=request.user, run_id=request.POST.get("training_run"), min_role=Role.LEAD
            )
            deployment = deployment_create(
                training_run=run, user=signed_in(request), name=request.POST.get("name", "")
            )
            return redirect("deployment", deployment_id=deployment.pk)
        except ApplicationError as exc:
            messages.error(request, exc.message)
    deployments = [
        (deployment, deployment.reports.order_by("-id").first())
        for deployment in selectors.deployment_list(user=request.user, project_id=project.pk)
    ]
    runs = (
        numbered(TrainingRun.objects.all(), "version__project")
        .filter(version__project=project, status=JobStatus.SUCCEEDED)
        .exclude(adapter_sha256="")
    )
    context = {**abilities(request, project), "deployments": deployments, "runs": runs.order_by("-id")}
    return render(request, "evaluation/deployments.html", context)


@login_required
@django_errors
def deployment_detail(request: HttpRequest, deployment_id: int) -> HttpResponse:
    deployment = selectors.deployment_get(user=request.user, deployment_id=deployment_id)
    reports = list(deployment.reports.order_by("-id")[:CHART_REPORTS])
    limits = {**DEFAULT_THRESHOLDS, **deployment.thresholds}
    context = {
        **abilities(request, deployment.training_run.version.project),
        "deployment": deployment,
        "reports": reports,
        "latest": reports[0] if reports else None,
        "limits": limits,
        # Monitoring takes any finished adapter (a shadow test, say); the page says when no
        # comparison cleared it to ship.
        "unshipped": not shipped_runs(deployment.training_run.version.project)
        .filter(pk=deployment.training_run_id)
        .exists(),
        "job": pending_jobs(deployment).first() or deployment.report_jobs.order_by("-id").first(),
        "charts": [
            _chart("Out-of-distribution rate", reports, "ood_rate", limits),
            _chart("Input drift (domain-classifier AUC)", reports, "input_drift", limits),
        ],
    }
    return render(request, "evaluation/deployment.html", context)


@require_POST
@login_required
@django_errors
def deployment_report_now(request: HttpRequest, deployment_id: int) -> HttpResponse:
    """A lead's "report now": a job on a worker (the deployment's own window, as the hourly
    task); the deployment page shows its progress, then the report."""
    deployment = selectors.deployment_get(user=request.user, deployment_id=deployment_id, min_role=Role.LEAD)
    job = drift_report_job_create(deployment=deployment, user=signed_in(request))
    messages.success(
        request, f"Drift report job {job.pk} is {job.status}; the report appears here when it ends."
    )
    return redirect("deployment", deployment_id=deployment.pk)


@require_POST
@login_required
@django_errors
def report_to_annotation(request: HttpRequest, report_id: int) -> HttpResponse:
    report = selectors.report_get(user=request.user, report_id=report_id, min_role=Role.REVIEWER)
    try:
        sent = ood_to_annotation(
            report=report, user=signed_in(request), with_suggestions="with_suggestions" in request.POST
        )
    except InvalidInput as exc:
        messages.error(request, exc.message)
        return redirect("deployment", deployment_id=report.deployment_id)
    already = f" ({sent.already_queued} were queued already)" if sent.already_queued else ""
    note = ""
    if sent.suggestion_run is not None and sent.suggestion_run_earlier:
        note = f" Suggestion run {sent.suggestion_run.pk} of the deployed adapter covers them already."
    elif sent.suggestion_run is not None:
        note = (
            f" Suggestion run {sent.suggestion_run.pk} asks the deployed adapter about its "
            f"{sent.suggestion_run.n_targets} waiting inputs; its suggestions appear in the queue when it ends."
        )
    messages.success(
        request, f"{len(sent.created)} out-of-distribution inputs joined the labeling queue{already}.{note}"
    )
    return redirect("deployment", deployment_id=report.deployment_id)


def _chart(title: str, reports: list[DriftReport], field: str, limits: dict[str, float]) -> dict[str, Any]:
    """SVG points of one figure over the reports (oldest left), on a 0..1 scale, and its limit.
    A point is marked red only where this figure is over its limit, not wherever the report
    alerted (an out-of-distribution alert says nothing of the drift AUC)."""
    limit = limits[field]
    values = [
        (report, getattr(report, field)) for report in reversed(reports) if getattr(report, field) is not None
    ]
    span = max(len(values) - 1, 1)

    def x(index: int) -> float:
        return round(CHART_PAD + index / span * (CHART_WIDTH - 2 * CHART_PAD), 1)

    def y(value: float) -> float:
        return round(CHART_HEIGHT - CHART_PAD - value * (CHART_HEIGHT - 2 * CHART_PAD), 1)

    return {
        "title": title,
        "points": " ".join(f"{x(i)},{y(v)}" for i, (_, v) in enumerate(values)),
        "alerts": [
            {"x": x(i), "y": y(v)}
            for i, (report, v) in enumerate(values)
            if input_figure_alerts(report, field, limits)
        ],
        "limit_y": y(limit),
        "limit": limit,
        "count": len(values),
        "width": CHART_WIDTH,
        "height": CHART_HEIGHT,
        "pad": CHART_PAD,
        "last": values[-1][1] if values else None,
    }
