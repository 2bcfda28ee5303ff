"""Bulk import: store the upload, then read, validate and write its rows as one job."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from django.contrib.auth.models import User
from django.core.files import File
from django.db import transaction

from curation.errors import ApplicationError, InvalidInput
from curation.models import ExampleStatus, ImportJob, Project
from curation.pipeline.decoding import open_text
from curation.pipeline.errors import RowError, UnreadableFile
from curation.pipeline.formats import FORMATS, detect_format, mapped_rows
from curation.pipeline.mapping import FieldMapping, MappedRow
from curation.services.content import canonical_json, content_hash, validate_content
from curation.services.examples import check_initial_status, checked_external_id, checked_metadata
from curation.services.import_staging import StagedRow, Staging
from curation.services.jobs import ProgressFn

MAX_REPORTED_ERRORS = 1000
MERGE_CHUNK_LINES = 50_000
STAGE_BATCH = 20_000
READ_SHARE = 0.7  # of the progress bar: reading and staging; the rest is the merge


def import_job_create(
    *,
    project: Project,
    user: User,
    upload: IO[bytes],
    filename: str,
    file_format: str = "auto",
    input_field: str = "",
    output_field: str = "",
    status: str = ExampleStatus.DRAFT,
    queue: bool = True,
) -> ImportJob:
    """Store the uploaded file and queue its import. InvalidInput for bad parameters."""
    if file_format not in FORMATS:
        raise InvalidInput(
            f"Unknown format {file_format!r}; use one of {', '.join(FORMATS)}.", field="format"
        )
    check_initial_status(project, user, status)
    job = ImportJob(
        project=project,
        created_by=user,
        filename=os.path.basename(filename)[:255] or "upload",
        format=file_format,
        input_field=input_field.strip(),
        output_field=output_field.strip(),
        initial_status=status,
    )
    job.file.save(f"{uuid.uuid4().hex}-{job.filename}", File(upload), save=False)
    job.size = job.file.size
    with transaction.atomic():
        job.save()
        if queue:
            from curation.tasks import import_examples

            transaction.on_commit(lambda: import_examples.delay(job.pk))
    return job


@dataclass
class ImportReport:
    total: int = 0
    failed: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)

    def fail(self, line: int, message: str) -> None:
        self.failed += 1
        if len(self.errors) < MAX_REPORTED_ERRORS:
            self.errors.append({"line": line, "error": message})


def import_run(job: ImportJob, progress: ProgressFn) -> None:
    """Read the job's file into staging, then merge it. UnreadableFile fails it creating nothing."""
    report = ImportReport()
    with job.file.open("rb") as stream, Staging(job.pk) as staging:
        text, head = open_text(stream)
        job.detected_format = job.format if job.format != "auto" else detect_format(head)
        ImportJob.objects.filter(pk=job.pk).update(detected_format=job.detected_format)
        rows = mapped_rows(
            text,
            head,
            job.detected_format,
            FieldMapping(job.input_field, job.output_field),
            job.project.task_type,
        )
        try:
            _stage_rows(job, rows, staging, report, progress, stream)
        except UnreadableFile as exc:
            raise ApplicationError(str(exc)) from exc
        created = _merge(job, staging, progress)
    job.total, job.failed, job.errors, job.created = report.total, report.failed, report.errors, created
    job.skipped_existing = report.total - report.failed - created
    job.save(update_fields=["total", "failed", "errors", "created", "skipped_existing"])


def _stage_rows(
    job: ImportJob,
    rows: Iterator[tuple[int, MappedRow | RowError]],
    staging: Staging,
    report: ImportReport,
    progress: ProgressFn,
    stream: Any,
) -> None:
    """Validate rows and stage them in batches; progress is reported between batches."""
    project, size = job.project, max(job.size, 1)
    require_output = job.initial_status != ExampleStatus.DRAFT
    batch: list[StagedRow] = []
    for line, item in rows:
        report.total += 1
        try:
            if isinstance(item, RowError):
                raise item
            batch.append(_staged(project, line, item, require_output))
        except (RowError, ApplicationError) as exc:
            report.fail(line, str(exc))
        if len(batch) >= STAGE_BATCH:
            staging.write(batch)
            batch.clear()
            progress(READ_SHARE * min(stream.tell() / size, 1.0), total=report.total, failed=report.failed)
    if batch:
        staging.write(batch)


def _staged(project: Project, line: int, row: MappedRow, require_output: bool) -> StagedRow:
    stored_input, stored_output = validate_content(
        task_type=project.task_type,
        labels=project.labels,
        output_schema=project.output_schema,
        input_value=row.input,
        output_value=row.output,
        require_output=require_output,
    )
    metadata = canonical_json(checked_metadata(row.metadata))
    external_id = checked_external_id(row.external_id)
    return line, stored_input, stored_output, metadata, external_id, content_hash(stored_input, stored_output)


def _merge(job: ImportJob, staging: Staging, progress: ProgressFn) -> int:
    first, last = staging.line_range()
    values = {
        "project_id": job.project_id,
        "status": job.initial_status,
        "source": f"import:{job.pk}",
        "user_id": job.created_by_id,
    }
    created = 0
    for start in range(first, last + 1, MERGE_CHUNK_LINES):
        end = min(start + MERGE_CHUNK_LINES - 1, last)
        created += staging.merge(first_line=start, last_line=end, values=values)
        done = (end - first + 1) / max(last - first + 1, 1)
        progress(READ_SHARE + (1 - READ_SHARE) * done, created=created)
    return created
