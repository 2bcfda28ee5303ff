"""Drift reports on demand: a lead's request queues a job, a worker computes the report.

Computing a report embeds the window's samples and the version's inputs (seconds to minutes),
so it never runs inside a web request: readers get the latest stored report (see
`latest_report`), and the hourly beat task and these jobs make new ones.
"""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import DurationField, ExpressionWrapper, F, Q, QuerySet
from django.utils import timezone

from curation.models import JobStatus
from curation.models.jobs import FINISHED_STATUSES
from curation.services.audit import audit
from curation.services.dispatch import job_send_on_commit
from curation.services.heartbeat import Reapable, heartbeat_timeout, jobs_reap
from curation.services.jobs import ProgressFn, job_fail_if_running, job_update
from evaluation.models import Deployment, DriftReport, DriftReportJob
from evaluation.monitoring import drift_report


@transaction.atomic
def drift_report_job_create(
    *, deployment: Deployment, user: User | None, hours: float | None = None
) -> DriftReportJob:
    """Queue a drift report of the window ending when it runs; while one of the same window is
    already queued or running for the deployment, that one is returned instead."""
    from evaluation.tasks import compute_drift_report  # the task module imports this one

    Deployment.objects.select_for_update().filter(pk=deployment.pk).first()  # one creator at a time
    # A job queued longer than the heartbeat timeout may have lost its message: it blocks no one.
    fresh = Q(status=JobStatus.RUNNING) | Q(created_at__gte=timezone.now() - heartbeat_timeout())
    pending = pending_jobs(deployment).filter(fresh, hours=hours).first()
    if pending is not None:
        return pending
    job = DriftReportJob.objects.create(deployment=deployment, hours=hours, created_by=user)
    project_id = deployment.training_run.version.project_id
    summary = f"Asked for a drift report of deployment {deployment.name}"
    audit(project=project_id, actor=user, action="drift_report_job.start", target=job, summary=summary)
    job_send_on_commit(job, lambda: compute_drift_report.delay(job.pk))
    return job


def pending_jobs(deployment: Deployment) -> QuerySet[DriftReportJob]:
    """The deployment's queued and running drift report jobs, newest first."""
    return (
        DriftReportJob.objects.filter(deployment=deployment)
        .exclude(status__in=FINISHED_STATUSES)
        .order_by("-id")
    )


def drift_report_job_run(job: DriftReportJob, progress: ProgressFn) -> None:
    """The task's body (through job_run): compute and store the report, and link it."""
    deployment = Deployment.objects.select_related("training_run__version__project").get(pk=job.deployment_id)
    report = drift_report(deployment=deployment, hours=job.hours, progress=progress)
    job_update(job, report=report)


def drift_report_job_fail_stale(job: DriftReportJob, error: str) -> bool:
    """A report is saved in one statement at the end: a dead worker's job left nothing."""
    return job_fail_if_running(job, error + " No report was stored; ask for one again.")


def drift_report_jobs_reap() -> int:
    """Fail the running drift report jobs whose worker went silent; how many."""
    return jobs_reap([Reapable(DriftReportJob, JobStatus.RUNNING, drift_report_job_fail_stale)])


def latest_report(*, deployment: Deployment, hours: float | None = None) -> DriftReport | None:
    """The newest stored report of the deployment (of a window `hours` long, when given): a
    read of one row, whatever the number of samples."""
    reports = deployment.reports.all()
    if hours is not None:
        span = ExpressionWrapper(F("window_end") - F("window_start"), output_field=DurationField())
        reports = reports.annotate(span=span).filter(span=timedelta(hours=hours))
    return reports.order_by("-id").first()
