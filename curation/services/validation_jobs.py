"""Re-validate a project's examples against its current settings (labels, schema, roles)."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import islice

from django.contrib.auth.models import User
from django.db import transaction

from curation.errors import ApplicationError
from curation.models import (
    Example,
    ExampleStatus,
    Flag,
    FlagKind,
    FlagStatus,
    Project,
    TaskType,
    ValidationJob,
)
from curation.phases import phase
from curation.services.audit import audit
from curation.services.content import ContentRules
from curation.services.dispatch import job_send_on_commit
from curation.services.flags import examples_key, flag_create
from curation.services.jobs import ProgressFn

CHUNK = 2000


@transaction.atomic
def validation_job_create(*, project: Project, user: User) -> ValidationJob:
    """Queue a validation job; the worker starts it once this transaction commits."""
    from curation.tasks import validate_examples

    job = ValidationJob.objects.create(project=project, created_by=user)
    summary = f"Started validation job {job.pk}"
    audit(project=project, actor=user, action="validation_job.start", target=job, summary=summary)
    job_send_on_commit(job, lambda: validate_examples.delay(job.pk))
    return job


def examples_validate(job: ValidationJob, progress: ProgressFn) -> None:
    """Check every example; raise one open format flag (by the job) per invalid example."""
    project = job.project
    total = project.examples.count() or 1
    checked = invalid = raised = 0
    examples = project.examples.order_by("id").iterator(chunk_size=CHUNK)
    while batch := _next_batch(examples):
        with phase("verify"):
            problems = [(example, _problem(project, example)) for example in batch]
            found = [(example, problem) for example, problem in problems if problem is not None]
        with phase("write"):
            raised += sum(
                _raise_format_flag(project, example, problem, f"validation-job:{job.pk}")
                for example, problem in found
            )
        checked, invalid = checked + len(batch), invalid + len(found)
        progress(checked / total)
    with phase("write"):
        ValidationJob.objects.filter(pk=job.pk).update(checked=checked, invalid=invalid, flags_raised=raised)


def _next_batch(examples: Iterator[Example]) -> list[Example]:
    with phase("read"):
        return list(islice(examples, CHUNK))


def _problem(project: Project, example: Example) -> str | None:
    rules = ContentRules.for_project(project, require_output=example.status != ExampleStatus.DRAFT)
    try:
        rules.validate(example.input, example.output)
    except ApplicationError as exc:
        return exc.message
    return None


def flag_unfit_outputs(project: Project, *, raised_by: str) -> int:
    """Raise a format flag on each approved example whose output the extraction schema refuses
    now: a freeze runs this first, so no version takes one after a schema change, whether or not
    a validation job ran since (labels need no pass: the freeze compares them in the database)."""
    if project.task_type != TaskType.EXTRACTION or not project.output_schema:
        return 0
    approved = (
        project.examples.filter(status=ExampleStatus.APPROVED, duplicate_of__isnull=True)
        .exclude(output="")
        .only("id", "input", "output", "status", "project_id")
        .order_by("id")
    )
    return sum(
        _raise_format_flag(project, example, problem, raised_by)
        for example in approved.iterator(chunk_size=CHUNK)
        if (problem := _problem(project, example)) is not None
    )


def _raise_format_flag(project: Project, example: Example, problem: str, raised_by: str) -> int:
    already_open = Flag.objects.filter(
        project=project,
        kind=FlagKind.FORMAT,
        status=FlagStatus.OPEN,
        examples_key=examples_key([example.pk]),
    ).exists()
    if already_open:
        return 0
    flag_create(
        project=project,
        user=None,
        kind=FlagKind.FORMAT,
        example_ids=[example.pk],
        note=problem,
        job=raised_by,
    )
    return 1
