"""Celery tasks of the training app: thin wrappers around training.services."""

from celery import shared_task

from training.merged import merge_execute
from training.services import run_execute, runs_reap, runs_resend


# Acknowledged late and re-queued if the worker process dies, so a redelivered run resumes from
# its last checkpoint; GPU hosts consume the `gpu` queue (`celery -A config worker -Q gpu -c 1`).
@shared_task(name="training.train", acks_late=True, reject_on_worker_lost=True)
def train(run_id: int) -> None:
    """Train run `run_id`, or resume it."""
    run_execute(run_id)


# On the `gpu` queue: the hosts that train are those that have the base model.
@shared_task(name="training.merge", acks_late=True, reject_on_worker_lost=True)
def merge(run_id: int) -> None:
    """Merge run `run_id`'s adapter into its base model, as a lead asked."""
    merge_execute(run_id)


@shared_task(name="training.reap_stale_runs")
def reap_stale_runs() -> int:
    """Fail runs whose worker has gone silent, and send again the tasks of those that waited too
    long for a worker (Celery beat runs this every minute)."""
    return runs_reap() + runs_resend()
