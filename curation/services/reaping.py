"""How each curation job kind is failed once its worker died, and what it leaves to clean up.

Each `fail` fails the row only while it is still running (a job that finished meanwhile is left
alone) and then removes what the dead worker left behind, so that the project is as if the job
had failed on its own and the same job can simply be run again.
"""

from __future__ import annotations

from django.db import connection, transaction
from django.db.models import Exists, OuterRef, Q

from curation.models import (
    ContradictionJob,
    DatasetVersion,
    DedupJob,
    Example,
    ExportJob,
    ImportJob,
    Job,
    JobHeartbeat,
    JobStatus,
    ValidationJob,
    VersionItem,
    VersionStatus,
)
from curation.services.dispatch import QUEUED, Resendable, lost_messages_resend
from curation.services.export_jobs import export_fail_stale
from curation.services.heartbeat import Reapable, jobs_reap
from curation.services.import_uploads import upload_release
from curation.services.jobs import job_fail_if_running

RUN_AGAIN = " Nothing of it was applied; run it again."


def job_fail_stale(job: Job, error: str) -> bool:
    """Validation and contradiction jobs write their flags in one transaction at the end: a
    dead worker's job applied nothing."""
    return job_fail_if_running(job, error + RUN_AGAIN)


def import_fail_stale(job: ImportJob, error: str) -> bool:
    """An import lands whole rows batch by batch: those merged before the worker died stay, and
    importing the file again adds only the others (rows already in the project are skipped)."""
    kept = Example.objects.filter(project_id=job.project_id, source=f"import:{job.pk}").count()
    note = (
        f" {kept} rows were imported before it stopped and are kept; import the file again: rows "
        "already in the project are skipped."
    )
    if not job_fail_if_running(job, error + note, created=kept):
        return False
    _drop_staging_tables(job)
    upload_release(job.pk)
    return True


def dedup_fail_stale(job: DedupJob, error: str) -> bool:
    """A dedup job applies its clusters in the merge's one transaction: until then nothing is
    marked, and only its chunk sketches (files, a Redis LSH index) are left to remove."""
    from curation.services.dedup_chunks import sketches_discard

    if not job_fail_if_running(job, error + RUN_AGAIN):
        return False
    sketches_discard(job)
    return True


def version_fail_stale(version: DatasetVersion, error: str) -> bool:
    """A freeze copies its items in one transaction, but writes its files after it: a version
    whose worker died loses both, and the lead freezes again."""
    from curation.services.version_exports import canonical_files_discard

    with transaction.atomic():
        failed = DatasetVersion.objects.filter(pk=version.pk, status=VersionStatus.FREEZING).update(
            status=VersionStatus.FAILED, error=error + " Nothing of it was kept; freeze again."
        )
        if not failed:
            return False
        VersionItem.objects.filter(version=version).delete()
    canonical_files_discard(version)
    return True


def _drop_staging_tables(job: ImportJob) -> None:
    """The PostgreSQL batch tables of the job (SQLite's temporary tables died with the worker)."""
    from curation.services.import_staging import Staging

    if connection.vendor == "postgresql":
        Staging(job.pk, {}, one_batch_at_a_time=True).drop_leftovers()


CURATION_JOBS = (
    Reapable(ValidationJob, JobStatus.RUNNING, job_fail_stale),
    Reapable(ImportJob, JobStatus.RUNNING, import_fail_stale),
    Reapable(DedupJob, JobStatus.RUNNING, dedup_fail_stale),
    Reapable(ContradictionJob, JobStatus.RUNNING, job_fail_stale),
    Reapable(DatasetVersion, VersionStatus.FREEZING, version_fail_stale),
    Reapable(ExportJob, JobStatus.RUNNING, export_fail_stale),
)


def curation_jobs_reap() -> int:
    """Fail the curation jobs and freezes whose worker went silent; how many."""
    return jobs_reap(CURATION_JOBS)


# A version freezing with no heartbeat has not been taken by a worker yet (a running freeze beats,
# under its model's label: heartbeat._kind).
FREEZE_WAITING = Q(status=VersionStatus.FREEZING) & ~Q(
    Exists(JobHeartbeat.objects.filter(kind=DatasetVersion._meta.label_lower, object_id=OuterRef("pk")))
)
CURATION_WAITING = (
    Resendable(ValidationJob, QUEUED, "curation.validate_examples"),
    Resendable(ImportJob, QUEUED, "curation.import_examples"),
    Resendable(DedupJob, QUEUED, "curation.dedup_examples"),
    Resendable(ContradictionJob, QUEUED, "curation.find_contradictions"),
    Resendable(DatasetVersion, FREEZE_WAITING, "curation.freeze_version"),
    Resendable(ExportJob, QUEUED, "curation.export_data"),
)


def curation_jobs_resend() -> int:
    """Send again the tasks of curation jobs and freezes that waited too long for a worker."""
    return lost_messages_resend(CURATION_WAITING)
