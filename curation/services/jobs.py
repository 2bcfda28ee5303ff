"""Run a job row's work and record its life: running, progress, succeeded or failed."""

from __future__ import annotations

import logging
import sqlite3
import time
import traceback
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

import psycopg
from django.db import DatabaseError, InterfaceError, OperationalError, transaction
from django.utils import timezone

from config.observability import bind_job
from curation.errors import ApplicationError, Conflict
from curation.models import Job, JobStatus
from curation.pipeline.errors import UnreadableFile
from curation.roles import role_of
from curation.services.heartbeat import beating, heartbeat_claim, heartbeat_forget, held_by_live_worker
from curation.services.job_phases import phases_flush, phases_recorded

log = logging.getLogger(__name__)

JobT = TypeVar("JobT", bound=Job)


class ProgressFn(Protocol):
    def __call__(self, fraction: float, **counts: int) -> None:
        """Report the fraction done, and any counters to show while the job runs."""


PROGRESS_INTERVAL_S = 0.5


class HandedOff:
    """Returned by work that queued the rest of the job as other tasks (chunks, a merge): the
    job stays running until the last of them finishes it with `job_step(..., finishes=True)`."""


HANDED_OFF = HandedOff()
Work = Callable[[JobT, ProgressFn], HandedOff | None]


def job_run(model: type[JobT], job_id: int, work: Work[JobT], *, for_creator: bool = True) -> None:
    """Run `work` for the job unless it finished or a live worker holds it (a task delivered
    twice); record the outcome. A job queued by someone who has left its project since (or whose
    account was deactivated) fails without doing anything (`for_creator` False: an operator's
    command runs it whoever it names)."""
    job = model._default_manager.get(pk=job_id)
    if not job_claim(job):
        return
    gone = creator_gone(job) if for_creator else None
    if gone:
        log.warning("%s %s not run: %s", model.__name__, job.pk, gone)
        job_update(job, status=JobStatus.FAILED, error=gone, finished_at=timezone.now())
        heartbeat_forget(job)
        return
    _run(job, work, finishes=True)


def creator_gone(job: Job) -> str | None:
    """Why a job must not run for the user who queued it any more, or None: they are no longer
    a member of its project, or their account was deactivated. Jobs no user queued run."""
    user, project = getattr(job, "created_by", None), getattr(job, "project", None)
    if user is None or project is None:
        return None
    if not user.is_active:
        return f"{user.username}'s account was deactivated after queuing this job; nothing was done."
    if role_of(user, project) is None:
        return f"{user.username} is no longer a member of project '{project.name}'; the job they queued did nothing."
    return None


def job_claim(job: Job, **fields: Any) -> bool:
    """Take a delivered job for this worker: mark it running (with `fields`) and stamp its
    heartbeat, in one transaction. False, and the delivery is dropped, when the job finished or a
    live worker holds it: a broker may deliver one job twice (Redis re-delivers a task left
    unacknowledged past its visibility timeout; the sweep re-sends a job that waited too long),
    and one job must never run twice at once. A running job whose worker went silent is taken
    over and starts over."""
    name = f"{type(job).__name__} {job.pk}"
    with transaction.atomic():
        locked = type(job)._default_manager.select_for_update().get(pk=job.pk)
        if locked.is_finished:
            log.info("%s already %s; not run again", name, locked.status)
            return False
        if locked.status == JobStatus.RUNNING and held_by_live_worker(locked):
            log.warning("%s is held by a live worker; this delivery is dropped", name)
            return False
        heartbeat_claim(locked)
        job_update(job, status=JobStatus.RUNNING, started_at=timezone.now(), progress=0.0, **fields)
    return True


def job_step(model: type[JobT], job_id: int, work: Work[JobT], *, finishes: bool = False) -> None:
    """Run one handed-off part of a running job; a failure fails the whole job, and a job that
    already finished (failed elsewhere, say) is left alone."""
    job = model._default_manager.get(pk=job_id)
    if job.is_finished:
        log.info("%s %s already %s; step not run", model.__name__, job_id, job.status)
        return
    _run(job, work, finishes=finishes)


def _run(job: JobT, work: Work[JobT], *, finishes: bool) -> None:
    with bind_job(type(job).__name__, job.pk, getattr(job, "project_id", None)), beating(job):
        _logged_run(job, work, finishes=finishes)
    if job.is_finished:
        heartbeat_forget(job)


def _logged_run(job: JobT, work: Work[JobT], *, finishes: bool) -> None:
    log.info("%s %s: work starts", type(job).__name__, job.pk)
    try:
        with phases_recorded(job):  # quality jobs' seconds per phase, saved before the outcome
            outcome = work(job, _throttled_progress(job))
    except Exception as exc:
        if isinstance(exc, ApplicationError | UnreadableFile):  # refused input: no traceback
            log.warning("%s %s refused: %s", type(job).__name__, job.pk, failure_message(exc))
        else:
            log.exception("%s %s failed", type(job).__name__, job.pk)
        job_update(
            job,
            status=JobStatus.FAILED,
            error=failure_message(exc),
            traceback=traceback.format_exc(),
            finished_at=timezone.now(),
        )
        return
    if finishes and outcome is not HANDED_OFF:
        job_update(job, status=JobStatus.SUCCEEDED, progress=1.0, finished_at=timezone.now())
    log.info("%s %s: work ends (%s)", type(job).__name__, job.pk, job.status)


def failure_message(exc: Exception) -> str:
    """What a failed job shows its users: a database's own message (which may quote their data
    and the schema) stays in the log and the traceback column, which only operators see."""
    if isinstance(
        exc, OperationalError | InterfaceError | psycopg.OperationalError | sqlite3.OperationalError
    ):
        return "The database was unavailable while the job ran; run it again (details: the worker's log)."
    if isinstance(exc, DatabaseError | psycopg.Error | sqlite3.Error):
        return "The database refused to store the job's data; operators find the details in the worker's log."
    return str(exc) or exc.__class__.__name__


def _throttled_progress(job: Job) -> ProgressFn:
    last_write = 0.0

    def report(fraction: float, **counts: int) -> None:
        nonlocal last_write
        now = time.monotonic()
        if now - last_write >= PROGRESS_INTERVAL_S:
            last_write = now
            job_update(job, progress=max(0.0, min(1.0, fraction)), **counts)
            phases_flush(job)

    return report


def job_update(job: Job, **fields: Any) -> None:
    """Set fields on the job and write just those, with one UPDATE: a save() would write back
    every column, over what a cancel request or another worker changed meanwhile."""
    for name, value in fields.items():
        setattr(job, name, value)
    type(job)._default_manager.filter(pk=job.pk).update(**fields)


class Cancellable(Protocol):
    status: str
    cancel_requested: bool
    finished_at: Any


def job_cancel_request(model: type[JobT], pk: int, what: str) -> tuple[JobT, str]:
    """Cancel a job whose worker checks `cancel_requested` (in the caller's transaction): a queued
    one at once, a running one when its worker next looks. The locked job and the status it had;
    Conflict for a finished one, naming it as `what` ("Training run 7")."""
    job = model._default_manager.select_for_update().get(pk=pk)
    if job.is_finished:
        raise Conflict(f"{what} already {job.status}; there is nothing to cancel.")
    before = job.status
    cancellable: Cancellable = job  # type: ignore[assignment]
    cancellable.cancel_requested = True
    fields = ["cancel_requested"]
    if before == JobStatus.QUEUED:
        cancellable.status, cancellable.finished_at = JobStatus.CANCELLED, timezone.now()
        fields += ["status", "finished_at"]
    job.save(update_fields=fields)
    return job, before


def job_fail_if_running(job: Job, error: str, **fields: Any) -> bool:
    """Fail the job only while it is still running (one UPDATE filtered on the status: a job
    that finished meanwhile is left alone); whether it did."""
    updated = (
        type(job)
        ._default_manager.filter(pk=job.pk, status=JobStatus.RUNNING)
        .update(status=JobStatus.FAILED, error=error, finished_at=timezone.now(), **fields)
    )
    return bool(updated)
