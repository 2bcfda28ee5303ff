"""Sending a job's task to the broker, and what happens when the message does not get through.

A job's row is committed before its message is sent (the worker must find the row). A broker that
refuses the message then (down, unreachable, its disk full) used to leave the job queued with no
message to run it, forever, and turn the request that had saved it into a 500. Now the job fails at
once saying so, the request answers as usual, and the user starts the job again.

A broker can also lose a message it took (Redis restarted without persistence, a purged queue).
Beat's sweep sends the task of a job that has waited for a worker too long again; a job whose
first message was only slow (a long queue) still runs once, as the worker that takes a delivery
claims the job and the others are dropped (`jobs.job_claim`).
"""

from __future__ import annotations

import importlib
import logging
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from celery import current_app
from django.conf import settings
from django.db import models, transaction
from django.utils import timezone
from kombu.exceptions import KombuError

from curation.models import Job, JobStatus

log = logging.getLogger(__name__)

# kombu wraps a broker's connection errors in its OperationalError; the file broker raises OSError.
BROKER_ERRORS = (KombuError, OSError)
NOT_QUEUED = (
    "The job queue (the broker) could not take this job, so none of it ran: start it again once "
    "the broker is back (operators: the web process's log names the error)."
)


def send_on_commit(
    send: Callable[[], object], *, what: str, refused: Callable[[str], object] | None = None
) -> None:
    """Call `send` (a task's delay) once the transaction commits (at once outside one). A broker
    error is logged with `what` the task was for, and `refused` gets the message to record; without
    one (background work a later sweep or request redoes) the request that asked still succeeds."""

    def attempt() -> None:
        try:
            send()
        except BROKER_ERRORS:
            log.exception("The broker did not take the task for %s", what)
            if refused is not None:
                refused(NOT_QUEUED)

    transaction.on_commit(attempt)


def job_send_on_commit(
    job: Job, send: Callable[[], object], *, cleanup: Callable[[], object] | None = None
) -> None:
    """Send a job's task on commit; one the broker refuses fails the job (if still queued), then
    `cleanup` removes what the job held (an import's upload, say)."""

    def refused(error: str) -> None:
        if job_fail_if_queued(job, error) and cleanup is not None:
            cleanup()

    send_on_commit(send, refused=refused, what=f"{type(job).__name__} {job.pk}")


def job_fail_if_queued(job: Job, error: str) -> bool:
    """Fail the job only while it is still queued (a worker may have taken it meanwhile)."""
    updated = (
        type(job)
        ._default_manager.filter(pk=job.pk, status=JobStatus.QUEUED)
        .update(status=JobStatus.FAILED, error=error, finished_at=timezone.now())
    )
    return bool(updated)


# What a job waits as for a worker: every Job kind's rows (a freeze waits differently, see reaping).
QUEUED = models.Q(status=JobStatus.QUEUED)


@dataclass(frozen=True)
class Resendable:
    """A kind of job whose rows can wait for a worker: `waiting` selects them, and the task
    named `task` (its one argument the row's id) runs one."""

    model: type[models.Model]
    waiting: models.Q
    task: str


def lost_messages_resend(kinds: Iterable[Resendable], *, now: datetime | None = None) -> int:
    """Send again the task of each job that has waited for a worker FINCH_JOB_RESEND_AFTER_S, and
    again at twice, four times... that age (a job behind a long queue is not sent every minute);
    how many were sent. 0 turns it off."""
    after = settings.FINCH_JOB_RESEND_AFTER_S
    if after <= 0:
        return 0
    now = now or timezone.now()
    sent = 0
    for kind in kinds:
        waited = kind.model._default_manager.filter(
            kind.waiting, created_at__lte=now - timedelta(seconds=after)
        )
        for pk, created_at in waited.values_list("pk", "created_at"):
            age = (now - created_at).total_seconds()
            if not _resend_due(age, after):
                continue
            try:
                _task(kind.task).delay(pk)
            except BROKER_ERRORS:
                log.exception("The broker did not take %s %s sent again", kind.model.__name__, pk)
                continue
            log.warning(
                "%s %s waited %d s for a worker: its task %s was sent again",
                kind.model.__name__,
                pk,
                age,
                kind.task,
            )
            sent += 1
    return sent


def _task(name: str) -> Any:
    """The registered task, its app's tasks module imported first where this process has not
    (a worker imports them all at start; a shell or a test may not have)."""
    if name not in current_app.tasks:
        importlib.import_module(f"{name.partition('.')[0]}.tasks")
    return current_app.tasks[name]


def _resend_due(age_s: float, after_s: float) -> bool:
    """Whether the age after_s, 2 after_s, 4 after_s... was reached since the sweep before this one
    (beat sweeps every FINCH_SWEEP_EVERY_S)."""
    reached = after_s * 2 ** math.floor(math.log2(age_s / after_s))
    return age_s - reached < settings.FINCH_SWEEP_EVERY_S
