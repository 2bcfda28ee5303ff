"""Celery tasks of the curation app: thin wrappers that load ids and call a service."""

from celery import shared_task

from curation.models import ContradictionJob, DedupJob, ImportJob, ValidationJob
from curation.services.contradictions import contradictions_run
from curation.services.dedup import dedup_run
from curation.services.imports import import_run
from curation.services.jobs import job_run
from curation.services.validation_jobs import examples_validate


@shared_task(name="curation.validate_examples", acks_late=True)
def validate_examples(job_id: int) -> None:
    """Run validation job `job_id`."""
    job_run(ValidationJob, job_id, examples_validate)


@shared_task(name="curation.import_examples", acks_late=True)
def import_examples(job_id: int) -> None:
    """Run import job `job_id`."""
    job_run(ImportJob, job_id, import_run)


@shared_task(name="curation.dedup_examples", acks_late=True)
def dedup_examples(job_id: int) -> None:
    """Run dedup job `job_id`."""
    job_run(DedupJob, job_id, dedup_run)


@shared_task(name="curation.find_contradictions", acks_late=True)
def find_contradictions(job_id: int) -> None:
    """Run contradiction job `job_id`."""
    job_run(ContradictionJob, job_id, contradictions_run)
