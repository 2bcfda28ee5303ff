"""Celery tasks of the curation app: thin wrappers that load ids and call a service."""

from celery import shared_task

from curation.models import ContradictionJob, DedupJob, ExportJob, ImportJob, JobStatus, ValidationJob
from curation.search import search_backlog_index, search_backlog_sweep
from curation.services.contradictions import contradictions_run
from curation.services.dedup import dedup_start
from curation.services.dedup_chunks import chunk_run, merge_run, sketches_discard
from curation.services.embedding_shares import help_embed
from curation.services.export_jobs import export_run, exports_expire
from curation.services.import_uploads import expired_uploads_delete, upload_release
from curation.services.imports import import_run
from curation.services.jobs import job_run, job_step
from curation.services.labeling_order import novelty_priorities
from curation.services.reaping import curation_jobs_reap, curation_jobs_resend
from curation.services.validation_jobs import examples_validate
from curation.services.versions import freeze


@shared_task(name="curation.validate_examples", acks_late=True)
def validate_examples(job_id: int) -> None:
    """Run validation job `job_id`."""
    job_run(ValidationJob, job_id, examples_validate)


@shared_task(name="curation.import_examples", acks_late=True)
def import_examples(job_id: int) -> None:
    """Run import job `job_id`, then delete its upload (unless uploads are kept for a while)."""
    job_run(ImportJob, job_id, import_run)
    upload_release(job_id)


@shared_task(name="curation.dedup_examples", acks_late=True)
def dedup_examples(job_id: int) -> None:
    """Run dedup job `job_id` (MinHash and embedding jobs continue as chunks, then a merge)."""
    job_run(DedupJob, job_id, dedup_start)


@shared_task(name="curation.dedup_chunk", acks_late=True)
def dedup_chunk(job_id: int, index: int) -> None:
    """Do the per-example work of chunk `index` of dedup job `job_id`."""
    job_step(DedupJob, job_id, lambda job, progress: chunk_run(job, index))
    _discard_if_failed(job_id)


@shared_task(name="curation.dedup_merge", acks_late=True)
def dedup_merge(job_id: int) -> None:
    """Find and apply the groups of dedup job `job_id` once its chunks are done."""
    job_step(DedupJob, job_id, merge_run, finishes=True)
    _discard_if_failed(job_id)


@shared_task(name="curation.embed_shares", acks_late=True)
def embed_shares(job_id: int) -> None:
    """Embed shares of dedup job `job_id`'s merge until none is left."""
    help_embed(job_id)


def _discard_if_failed(job_id: int) -> None:
    """A failed job's chunk files are of no further use."""
    job = DedupJob.objects.get(pk=job_id)
    if job.status == JobStatus.FAILED:
        sketches_discard(job)


@shared_task(name="curation.find_contradictions", acks_late=True)
def find_contradictions(job_id: int) -> None:
    """Run contradiction job `job_id`."""
    job_run(ContradictionJob, job_id, contradictions_run)


@shared_task(name="curation.freeze_version", acks_late=True, reject_on_worker_lost=True)
def freeze_version(version_id: int) -> None:
    """Freeze dataset version `version_id` (a redelivered task starts the copy over)."""
    freeze(version_id)


@shared_task(name="curation.export_data", acks_late=True)
def export_data(job_id: int) -> None:
    """Run export job `job_id`: write its file, then publish it."""
    job_run(ExportJob, job_id, export_run)


@shared_task(name="curation.expire_exports")
def expire_exports() -> int:
    """Delete export files past their retention (Celery beat runs this every 15 minutes)."""
    return exports_expire()


@shared_task(name="curation.release_expired_claims")
def release_expired_claims() -> int:
    from curation.services.labeling import release_expired_claims as release

    return release()


@shared_task(name="curation.reap_stale_jobs")
def reap_stale_jobs() -> int:
    """Fail jobs and freezes whose worker has gone silent, and send again the tasks of those that
    waited too long for a worker (Celery beat runs this every minute); how many of both."""
    return curation_jobs_reap() + curation_jobs_resend()


@shared_task(name="curation.delete_expired_uploads")
def delete_expired_uploads() -> int:
    """Delete the uploads of finished imports past FINCH_UPLOAD_RETENTION_DAYS (beat: hourly)."""
    return expired_uploads_delete()


@shared_task(name="curation.labeling_novelty", acks_late=True)
def labeling_novelty(project_id: int, only_new: bool) -> int:
    """Rank project `project_id`'s queued items by novelty (with `only_new`: the unranked ones)."""
    return novelty_priorities(project_id, only_new=only_new)


@shared_task(name="curation.search_backlog", acks_late=True)
def search_backlog(project_id: int) -> int:
    """Add project `project_id`'s imported rows to the text search's indexes (curation/search.py)."""
    return search_backlog_index(project_id)


@shared_task(name="curation.search_backlog_sweep")
def search_backlog_sweep_task() -> int:
    """Add any project's rows still outside the text search's indexes (beat: every 10 minutes)."""
    return search_backlog_sweep()
