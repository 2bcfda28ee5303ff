"""A lead's drift report runs on a real Celery worker (Redis broker), not in the web request:
the job goes queued -> running -> succeeded, beats a heartbeat while it runs, and stores the
report that GET /api/deployments/{id}/drift/ then reads."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from django.conf import settings

from curation.models import JobHeartbeat, JobStatus
from evaluation.models import DriftReport, DriftReportJob
from evaluation.monitoring import samples_add
from tests.conftest import Team
from tests.evaluation.test_monitoring import banking_rows, deployed, restaurant_texts
from tests.integration import test_worker
from tests.integration.test_worker import JOB_TIMEOUT_S, StartWorker, Worker, _send

# The fixtures of the validation-job worker tests, used here too.
start_worker = test_worker.start_worker
redis_url = test_worker.redis_url

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def _wait(job: DriftReportJob, worker: Worker) -> None:
    deadline = time.monotonic() + JOB_TIMEOUT_S * 3  # loading the embedding model comes first
    while not job.is_finished:
        if worker.process.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"drift report job {job.pk} is {job.status}.\n{worker.output()}")
        time.sleep(0.2)
        job.refresh_from_db()


def _heartbeat_gone(job: DriftReportJob, timeout_s: float = 10) -> bool:
    """Whether the job's heartbeat goes: the worker drops it just after it records the outcome
    (curation.services.jobs._run), so a reader can see the outcome a moment before."""
    deadline = time.monotonic() + timeout_s
    beats = JobHeartbeat.objects.filter(kind="evaluation.driftreportjob", object_id=job.pk)
    while beats.exists():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def test_a_drift_report_job_runs_on_the_worker(
    team: Team,
    start_worker: StartWorker,
    redis_url: str,
    tmp_path: Path,
) -> None:
    # Given a deployment with 61 live samples and a lead's queued report job
    deployment = deployed(team.project, team.lead, banking_rows()[:200])
    samples_add(
        deployment=deployment, rows=[{"input": text, "output": "x"} for text in restaurant_texts()[:61]]
    )
    job = DriftReportJob.objects.create(deployment=deployment, created_by=team.lead)
    worker = start_worker(
        finch_home=tmp_path / "finch-home",
        broker_url=redis_url,
        extra_env={
            "DJANGO_SETTINGS_MODULE": "tests.integration.worker_settings",
            "FINCH_MODELS_DIR": str(settings.FINCH_MODELS_DIR),  # the int8 model this run made
        },
    )

    # When the task goes through the broker, as the web process sends it
    _send(redis_url, job.pk, task="evaluation.compute_drift_report")
    _wait(job, worker)

    # Then the worker stored the report, linked it, and forgot the job's heartbeat
    assert job.status == JobStatus.SUCCEEDED, f"{job.error}\n{job.traceback}\n{worker.output()}"
    report = DriftReport.objects.get(deployment=deployment)
    assert job.report_id == report.pk and report.n == 61 and report.alert
    assert job.started_at is not None and job.progress == 1.0
    assert _heartbeat_gone(job)
