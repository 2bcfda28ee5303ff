"""Per-phase timings saved on a quality job's record (the work marks its phases with
curation.phases.phase): with the job's progress while it runs, and when its work ends."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import DatabaseError, transaction

from curation.models import Job, QualityJob
from curation.phases import phases_added, running_clock, timing

log = logging.getLogger(__name__)


@contextmanager
def phases_recorded(job: Job) -> Iterator[None]:
    """Time the phases marked inside the block and add them to the job's `phases`, also when
    the block fails (the phase it failed in is the one to look at). Other jobs record nothing."""
    if not isinstance(job, QualityJob):
        yield
        return
    with timing():
        try:
            yield
        except BaseException:
            _flush_after_failure(job)
            raise
        phases_flush(job)


def phases_flush(job: Job) -> None:
    """Add the seconds timed since the last flush to the job's record. The chunk tasks of one
    dedup job may run at once on several workers: each adds under the job's row lock."""
    clock = running_clock()
    if clock is None or not isinstance(job, QualityJob):
        return
    seconds = clock.take()
    if not seconds:
        return
    manager = type(job)._default_manager
    with transaction.atomic():
        stored = manager.select_for_update().values_list("phases", flat=True).get(pk=job.pk)
        job.phases = phases_added(stored or {}, seconds)
        manager.filter(pk=job.pk).update(phases=job.phases)


def _flush_after_failure(job: QualityJob) -> None:
    """A failure may be the database's own: the timings are then lost, the failure is not."""
    try:
        phases_flush(job)
    except DatabaseError:
        log.warning("%s %s: its phase timings were not saved", type(job).__name__, job.pk, exc_info=True)
