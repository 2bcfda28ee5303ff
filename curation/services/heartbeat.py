"""Heartbeats of running jobs, and the reaper that fails jobs whose worker died.

While a job's work runs, a daemon thread stamps its JobHeartbeat row every few seconds. A
worker killed outright (SIGKILL, out of memory, a lost host) stops stamping; once its job has
been silent for FINCH_JOB_HEARTBEAT_TIMEOUT_S, the reaper (Celery beat, every minute) marks the
job failed with a message saying so and lets the job kind clean up what it left (staging
tables, sketch files, half-copied items), so nothing stays `running` for ever and a new job can
run cleanly. Training runs keep their own step heartbeat and resume instead (training.services).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connection, models
from django.utils import timezone

from curation.models import JobHeartbeat

log = logging.getLogger(__name__)

# Stamps come this often, and at least four fall within the timeout.
BEAT_EVERY_S = 5.0


def heartbeat_timeout() -> timedelta:
    return timedelta(seconds=settings.FINCH_JOB_HEARTBEAT_TIMEOUT_S)


def _kind(row: models.Model, kind: str | None = None) -> str:
    return kind or row._meta.label_lower


@contextmanager
def beating(row: models.Model, kind: str | None = None) -> Iterator[None]:
    """Stamp the job's heartbeat now and every few seconds until the block ends. `kind` names
    work on the row other than the row's own job (a training run's merge), else the row's model.

    Inside a transaction (eager tasks in tests, or a caller's atomic block) only the first stamp
    is written: a second connection could neither see the row nor wait on the first's locks."""
    kind, host = _kind(row, kind), f"{socket.gethostname()}:{os.getpid()}"
    _stamp(kind, row.pk, host, create=True)
    if connection.in_atomic_block:
        yield
        return
    stop = threading.Event()
    beats = threading.Thread(
        target=_beat, args=(kind, row.pk, host, stop), name=f"heartbeat-{kind}-{row.pk}", daemon=True
    )
    beats.start()
    try:
        yield
    finally:
        stop.set()
        beats.join()


def _beat(kind: str, object_id: int, host: str, stop: threading.Event) -> None:
    interval = min(BEAT_EVERY_S, settings.FINCH_JOB_HEARTBEAT_TIMEOUT_S / 4)
    try:
        while not stop.wait(interval):
            try:
                _stamp(kind, object_id, host, create=False)
            except DatabaseError as exc:  # a busy SQLite file, a database restarting: try again
                log.warning("heartbeat of %s %s not written: %s", kind, object_id, exc)
    finally:
        connection.close()  # this thread's own connection


def _stamp(kind: str, object_id: int, host: str, *, create: bool) -> None:
    now = timezone.now()
    if create:
        JobHeartbeat.objects.update_or_create(
            kind=kind, object_id=object_id, defaults={"beat_at": now, "host": host}
        )
    else:
        JobHeartbeat.objects.filter(kind=kind, object_id=object_id).update(beat_at=now)


def heartbeat_claim(row: models.Model) -> None:
    """Stamp the heartbeat of a job this worker takes (in the claim's transaction), so that a
    second delivery of it finds it held from that instant."""
    _stamp(_kind(row), row.pk, f"{socket.gethostname()}:{os.getpid()}", create=True)


def held_by_live_worker(row: models.Model, kind: str | None = None) -> bool:
    """Whether a worker holds the job and is alive: its heartbeat is fresher than the timeout
    after which the reaper would call it dead."""
    beat = heartbeat_of(row, kind)
    return beat is not None and timezone.now() - beat.beat_at < heartbeat_timeout()


def heartbeat_of(row: models.Model, kind: str | None = None) -> JobHeartbeat | None:
    """The running job's last heartbeat (none once it has finished)."""
    return JobHeartbeat.objects.filter(kind=_kind(row, kind), object_id=row.pk).first()


def heartbeat_forget(row: models.Model, kind: str | None = None) -> None:
    """Drop the heartbeat of a job that has finished."""
    JobHeartbeat.objects.filter(kind=_kind(row, kind), object_id=row.pk).delete()


# -- the reaper ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reapable:
    """A job kind the reaper watches: its rows in `running_status` whose heartbeat went stale
    are handed to `fail(row, error)`, which fails the row only if it is still running (an UPDATE
    filtered on the status), cleans up after it, and returns whether it failed it."""

    model: type[models.Model]
    running_status: str
    fail: Callable[[Any, str], bool]


def jobs_reap(kinds: Iterable[Reapable]) -> int:
    """Fail every running job of these kinds whose heartbeat is older than the timeout; how many."""
    cutoff = timezone.now() - heartbeat_timeout()
    reaped = 0
    for kind in kinds:
        for row, beat in _stale(kind, cutoff):
            seconds = int((timezone.now() - beat.beat_at).total_seconds())
            error = (
                f"No heartbeat from its worker ({beat.host or 'unknown host'}) for {seconds} s: the "
                "worker stopped (killed, out of memory, or its host went down)."
            )
            if kind.fail(row, error):
                log.warning("%s %s reaped: %s", _kind(row), row.pk, error)
                beat.delete()
                reaped += 1
    return reaped


def _stale(kind: Reapable, cutoff: Any) -> Iterator[tuple[models.Model, JobHeartbeat]]:
    """The kind's running rows whose heartbeat is older than the cutoff, with that heartbeat."""
    beats = JobHeartbeat.objects.filter(kind=kind.model._meta.label_lower, beat_at__lt=cutoff)
    stale = {beat.object_id: beat for beat in beats}
    for row in kind.model._default_manager.filter(status=kind.running_status, pk__in=stale):
        yield row, stale[row.pk]
