"""Sending a task to the broker once the transaction that made its row commits, and what happens
when the broker cannot take it.

A job's row is committed before its message is sent (the worker must find the row). A broker that
refuses the message then (down, unreachable, its disk full) used to leave the job queued with no
message to run it, forever, and turn the request that had saved it into a 500. Now the job fails at
once saying so, the request answers as usual, and the user starts the job again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.db import transaction
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
