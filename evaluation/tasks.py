"""Celery tasks of the evaluation app: thin wrappers around evaluation.services."""

from celery import shared_task

from curation.services.jobs import job_run
from evaluation.services import eval_execute, eval_runs_reap, evaluation_jobs_resend


# On the `gpu` queue with training: both load the model; a host without a GPU runs it on CPU.
@shared_task(name="evaluation.evaluate", acks_late=True, reject_on_worker_lost=True)
def evaluate(run_id: int) -> None:
    """Run eval run `run_id` (a redelivered one starts over: it writes nothing until the end)."""
    eval_execute(run_id)


@shared_task(name="evaluation.suggest", acks_late=True, reject_on_worker_lost=True)
def suggest(run_id: int) -> None:
    """Run suggestion run `run_id` (a redelivered one starts over)."""
    from evaluation.suggestions import suggestion_run_execute

    suggestion_run_execute(run_id)


@shared_task(name="evaluation.real_model_demo", acks_late=True, reject_on_worker_lost=True)
def real_model_demo(user_id: int) -> None:
    """The real-model demo (`manage.py demo --real-model`), run on a worker in the background; a
    redelivered one completes what the first attempt left (every step is done once)."""
    import logging

    from django.contrib.auth import get_user_model

    from evaluation.demo import real_model_demo_loop

    log = logging.getLogger("evaluation.demo")
    real_model_demo_loop(user=get_user_model().objects.get(pk=user_id), say=log.info)


@shared_task(name="evaluation.drift_reports")
def drift_reports() -> int:
    """A drift report for every deployment with recent samples (Celery beat runs this hourly)."""
    from evaluation.monitoring import reports_due

    return reports_due()


@shared_task(name="evaluation.compute_drift_report", acks_late=True)
def compute_drift_report(job_id: int) -> None:
    """Run drift report job `job_id` (a lead's "report now")."""
    from evaluation.drift_jobs import drift_report_job_run
    from evaluation.models import DriftReportJob

    job_run(DriftReportJob, job_id, drift_report_job_run)


@shared_task(name="evaluation.reap_stale_runs")
def reap_stale_runs() -> int:
    """Fail eval runs, suggestion runs and drift report jobs whose worker has gone silent, and send
    again the tasks of those that waited too long for a worker (Celery beat runs this every minute)."""
    from evaluation.drift_jobs import drift_report_jobs_reap
    from evaluation.suggestions import suggestion_runs_reap

    return eval_runs_reap() + suggestion_runs_reap() + drift_report_jobs_reap() + evaluation_jobs_resend()
