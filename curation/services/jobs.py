"""Run a job row's work and record its life: running, progress, succeeded or failed."""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Callable
from typing import Protocol, TypeVar

from django.utils import timezone

from curation.models import Job, JobStatus

log = logging.getLogger(__name__)

JobT = TypeVar("JobT", bound=Job)


class ProgressFn(Protocol):
    def __call__(self, fraction: float, **counts: int) -> None:
        """Report the fraction done, and any counters to show while the job runs."""


PROGRESS_INTERVAL_S = 0.5


def job_run(model: type[JobT], job_id: int, work: Callable[[JobT, ProgressFn], None]) -> None:
    """Run `work` for the job unless it already finished (a redelivered task); record the outcome."""
    job = model._default_manager.get(pk=job_id)
    if job.is_finished:
        log.info("%s %s already %s; not run again", model.__name__, job_id, job.status)
        return
    _update(job, status=JobStatus.RUNNING, started_at=timezone.now(), progress=0.0)
    try:
        work(job, _throttled_progress(job))
    except Exception as exc:
        log.exception("%s %s failed", model.__name__, job_id)
        _update(
            job,
            status=JobStatus.FAILED,
            error=str(exc) or exc.__class__.__name__,
            traceback=traceback.format_exc(),
            finished_at=timezone.now(),
        )
        return
    _update(job, status=JobStatus.SUCCEEDED, progress=1.0, finished_at=timezone.now())


def _throttled_progress(job: Job) -> ProgressFn:
    last_write = 0.0

    def report(fraction: float, **counts: int) -> None:
        nonlocal last_write
        now = time.monotonic()
        if now - last_write >= PROGRESS_INTERVAL_S:
            last_write = now
            _update(job, progress=max(0.0, min(1.0, fraction)), **counts)

    return report


def _update(job: Job, **fields: object) -> None:
    for name, value in fields.items():
        setattr(job, name, value)
    type(job)._default_manager.filter(pk=job.pk).update(**fields)
