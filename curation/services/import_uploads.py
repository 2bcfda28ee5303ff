"""Uploaded import files: what a project may hold in pending uploads, and their deletion once
their job has finished (at once, or FINCH_UPLOAD_RETENTION_DAYS later). The job row and its row
errors stay; only the file goes, so no member can fill the disk with uploads."""

from __future__ import annotations

import logging
import os
from datetime import datetime, timedelta
from typing import IO

from django.conf import settings
from django.db.models import Q, Sum
from django.utils import timezone

from curation.errors import TooLarge
from curation.models import ImportJob, JobStatus, Project
from curation.models.jobs import FINISHED_STATUSES

log = logging.getLogger(__name__)

PENDING_STATUSES = (JobStatus.QUEUED, JobStatus.RUNNING)


def upload_size(upload: IO[bytes]) -> int:
    """The upload's size in bytes, without reading it."""
    size = getattr(upload, "size", None)
    if isinstance(size, int):
        return size
    position = upload.tell()
    size = upload.seek(0, os.SEEK_END)
    upload.seek(position)
    return size


def pending_upload_check(*, project: Project, size: int) -> None:
    """TooLarge (413) if an upload of `size` bytes takes the bytes of the project's uploads
    waiting for (or in) an import past FINCH_PROJECT_PENDING_UPLOAD_BYTES."""
    limit = settings.FINCH_PROJECT_PENDING_UPLOAD_BYTES
    pending = ImportJob.objects.filter(project=project, status__in=PENDING_STATUSES)
    held = pending.aggregate(total=Sum("size"))["total"] or 0
    if held + size > limit:
        raise TooLarge(
            f"The project's imports not yet finished hold {held:,} bytes of uploads; this one "
            f"({size:,} bytes) would take them past the limit of {limit:,} bytes "
            "(FINCH_PROJECT_PENDING_UPLOAD_BYTES). Upload it once they have finished.",
            field="file",
        )


def upload_discard(job: ImportJob) -> bool:
    """Delete the job's uploaded file and forget its name; whether there was one."""
    if not job.file:
        return False
    job.file.delete(save=False)  # a file already gone is no error
    ImportJob.objects.filter(pk=job.pk).update(file="")
    log.info("Deleted the upload of import %s", job.pk)
    return True


def upload_release(job_id: int) -> None:
    """The job finished (or was already finished): delete its upload now, unless uploads are
    kept for a while (FINCH_UPLOAD_RETENTION_DAYS), when the beat task deletes it later."""
    job = ImportJob.objects.get(pk=job_id)
    if job.is_finished and settings.FINCH_UPLOAD_RETENTION_DAYS <= 0:
        upload_discard(job)


def expired_uploads_delete(*, now: datetime | None = None) -> int:
    """Delete the uploads of the imports that finished more than the retention ago (all the
    finished ones when it is 0: a worker may have died before deleting its own); how many."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.FINCH_UPLOAD_RETENTION_DAYS)
    finished = Q(finished_at__lte=cutoff) | Q(finished_at__isnull=True)
    jobs = ImportJob.objects.filter(finished, status__in=FINISHED_STATUSES).exclude(file="")
    return sum(upload_discard(job) for job in jobs.iterator())
