"""Bulk import: store the upload, then read, validate and write its rows as one job.

A reader thread parses and validates while the database writes the previous batch. Line-based
files (JSONL, OpenAI chat, Alpaca JSONL) cannot turn unreadable after their first record, so
each batch lands as soon as it is read; whole-document files (CSV, JSON arrays, Parquet) are
staged completely first, so one that proves truncated or malformed creates nothing.
"""

from __future__ import annotations

import csv
import io
import os
import uuid
from collections.abc import Callable, Generator, Iterator
from contextlib import closing
from typing import IO, NamedTuple

from django.conf import settings
from django.contrib.auth.models import User
from django.core.files import File
from django.db import connection, transaction

from curation.errors import ApplicationError, InvalidInput, PermissionDenied
from curation.models import Example, ExampleStatus, ImportJob, Project, Role
from curation.pipeline.background import in_background
from curation.pipeline.decoding import buffered_reader, open_text
from curation.pipeline.errors import UnreadableFile
from curation.pipeline.formats import (
    FORMATS,
    MappedItem,
    detect_format,
    mapped_records,
    mapped_rows,
    reads_by_line,
)
from curation.pipeline.mapping import FieldMapping
from curation.pipeline.parquet import ParquetRows, is_parquet
from curation.roles import has_role, role_of
from curation.search import search_backlog_schedule
from curation.services.audit import audit
from curation.services.dispatch import job_send_on_commit
from curation.services.examples import check_initial_status
from curation.services.exports import spreadsheet_safe
from curation.services.import_rows import UNLABELED, ImportReport, StagedRow, rules_for, staged_batches
from curation.services.import_staging import Staging
from curation.services.import_uploads import pending_upload_check, upload_release, upload_size
from curation.services.jobs import ProgressFn
from curation.services.labeling_order import novelty_after_queueing
from curation.services.locks import project_lock
from curation.services.overlap_sample import target_overlap_sql

READ_SHARE = 0.8  # of a whole-document import's progress: reading; the rest is the merge
# Bytes of the upload's own name kept in its stored name (after a 33-byte uuid prefix): file
# systems refuse names over 255 bytes (ENAMETOOLONG), and a client may send any name.
STORED_NAME_BYTES = 120
MAX_EXTENSION_BYTES = 16


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
    _check_fields(input_field.strip(), output_field.strip())
    _check_destination(project, user, status)
    pending_upload_check(project=project, size=upload_size(upload))  # before a byte is stored
    job = ImportJob(
        project=project,
        created_by=user,
        filename=os.path.basename(filename)[:255] or "upload",
        format=file_format,
        input_field=input_field.strip(),
        output_field=output_field.strip(),
        initial_status=status,
    )
    # An upload Django spooled to disk keeps its temporary_file_path, so storage moves it into
    # place; wrapped in a plain File it would be copied (a second write of the whole file).
    content = upload if isinstance(upload, File) else File(upload)
    job.file.save(stored_name(job.filename), content, save=False)
    job.size = job.file.size
    try:
        _job_save(job, queue=queue)
    except BaseException:
        job.file.delete(save=False)  # refused (or failed): its upload must not stay behind
        raise
    return job


def _check_fields(input_field: str, output_field: str) -> None:
    """One key cannot be both: every row would land with its answer as its input too."""
    if input_field and input_field == output_field:
        raise InvalidInput(
            f"input_field and output_field both name {input_field!r}: the input and the output must "
            "come from different keys or columns.",
            field="output_field",
        )


def _check_destination(project: Project, user: User, status: str) -> None:
    """Rows land as examples of an initial status, or as inputs of the labeling queue (`unlabeled`,
    which like queueing inputs by hand is the lead's to decide)."""
    if status != UNLABELED:
        check_initial_status(project, user, status)
    elif not has_role(role_of(user, project), Role.LEAD):
        raise PermissionDenied("Only leads may fill the labeling queue (status unlabeled).")


@transaction.atomic
def _job_save(job: ImportJob, *, queue: bool) -> None:
    # The project's row lock orders concurrent uploads, so together they stay within the quota.
    project_lock(job.project_id)
    pending_upload_check(project=job.project, size=job.size)
    job.save()
    landing = (
        "inputs go to the labeling queue"
        if job.initial_status == UNLABELED
        else f"rows land as {job.initial_status}"
    )
    summary = f"Started import {job.pk} of {job.filename} ({landing})"
    audit(project=job.project, actor=job.created_by, action="import.start", target=job, summary=summary)
    if queue:
        from curation.tasks import import_examples

        job_send_on_commit(job, lambda: import_examples.delay(job.pk), cleanup=lambda: upload_release(job.pk))


def stored_name(filename: str) -> str:
    """A unique name to store an upload under: a uuid, then the upload's name, shortened to
    STORED_NAME_BYTES of UTF-8 keeping its extension (the job keeps the name as given)."""
    stem, extension = os.path.splitext(filename)
    if len(extension.encode()) > MAX_EXTENSION_BYTES:
        stem, extension = filename, ""
    room = STORED_NAME_BYTES - len(extension.encode())
    stem = stem.encode()[:room].decode("utf-8", "ignore")  # never half a character
    return f"{uuid.uuid4().hex}-{stem}{extension}"


def import_run(job: ImportJob, progress: ProgressFn) -> None:
    """Import the job's file; an unreadable file fails the job and creates nothing."""
    report = ImportReport()
    with job.file.open("rb") as stream:
        reading = _reading(job, stream)
        ImportJob.objects.filter(pk=job.pk).update(detected_format=reading.file_format)
        unlabeled = job.initial_status == UNLABELED
        batches = staged_batches(reading.rows, rules_for(job), report, inputs_only=unlabeled)
        with Staging(job.pk, _merge_values(job), one_batch_at_a_time=reading.streaming) as staging:
            created = _stage_and_land(staging, batches, reading, report, progress)
    if not report.total:  # as an empty file is: a job that found nothing to import failed
        raise ApplicationError(NO_ROWS)
    ImportJob.objects.filter(pk=job.pk).update(
        detected_format=reading.file_format,
        total=report.total,
        failed=report.failed,
        errors=report.errors,
        created=created,
        skipped_existing=report.total - report.failed - created,
    )
    if report.failed == report.total:  # the counts and row errors above stay for the user to read
        raise ApplicationError(_every_row_failed(report))
    _refresh_statistics(created)
    if created and not unlabeled:  # examples landed outside the text search's indexes
        search_backlog_schedule(job.project_id)
    if unlabeled and created:
        novelty_after_queueing(job.project)


NO_ROWS = "The file holds no rows to import (a CSV header alone, an empty JSON list or Parquet file)."


def _every_row_failed(report: ImportReport) -> str:
    first = report.errors[0]
    where = "" if first["error"].startswith("Record ") else f"line {first['line']}: "
    return (
        f"Every row failed ({report.total} of {report.total}), so nothing was imported; the row "
        f"errors say why. The first, {where}{first['error']}"
    )


# After this many new rows the planner's estimates are stale enough to matter: a freeze or a
# dedup job right after a million-row import would otherwise plan as if the table were small.
ANALYZE_AFTER_ROWS = 50_000


def _refresh_statistics(created: int) -> None:
    if created >= ANALYZE_AFTER_ROWS and connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {Example._meta.db_table}")


class _Reading(NamedTuple):
    file_format: str  # as detected, for the job's record
    rows: Iterator[MappedItem]
    streaming: bool  # each batch may land as it is read (see the module's docstring)
    read_fraction: Callable[[], float]
    # The text wrapper or Parquet reader, held until the import ends: a text wrapper closes the
    # file when it is collected, and the progress reads the file's position after the last row.
    reader: object


def _reading(job: ImportJob, stream: IO[bytes]) -> _Reading:
    """The file's rows, mapped, read by the reader its format takes: Parquet (binary, by its first
    bytes or as named) or text."""
    buffered = buffered_reader(stream)
    mapping = FieldMapping(job.input_field, job.output_field)
    max_row_bytes = settings.FINCH_MAX_ROW_BYTES
    starts_as_parquet = is_parquet(buffered.peek(4))
    if job.format == "parquet" and not starts_as_parquet:
        raise UnreadableFile(
            "The file is not Parquet (it does not start with PAR1): choose its format, or auto."
        )
    if starts_as_parquet and job.format in ("auto", "parquet"):
        parquet = ParquetRows(buffered)
        records = parquet.rows(max_row_bytes)
        rows = mapped_records(records, parquet.record_format(), mapping, job.project.task_type)
        # Staged whole before any lands: a damaged row group further on creates nothing.
        return _Reading("parquet", rows, False, parquet.read_fraction, parquet)
    text, head = open_text(buffered, max_row_bytes)
    file_format = job.format if job.format != "auto" else detect_format(head)
    rows = mapped_rows(text, head, file_format, mapping, job.project.task_type, max_row_bytes)
    size = max(job.size, 1)
    streaming = reads_by_line(file_format, head)
    return _Reading(file_format, rows, streaming, lambda: min(buffered.tell() / size, 1.0), text)


def _stage_and_land(
    staging: Staging,
    batches: Iterator[list[StagedRow]],
    reading: _Reading,
    report: ImportReport,
    progress: ProgressFn,
) -> int:
    """Stage batches in the reader thread (PostgreSQL) or here (SQLite), and merge them."""
    tables: Generator[str, None, None]
    if staging.stages_in_reader:
        tables = in_background(staging.stage(batch) for batch in batches)
    else:
        tables = (staging.stage(batch) for batch in in_background(batches))
    with closing(tables):  # stop the reader thread before the staging tables go
        return _land(staging, tables, reading.streaming, reading.read_fraction, report, progress)


def _land(
    staging: Staging,
    tables: Iterator[str],
    streaming: bool,
    read_fraction: Callable[[], float],
    report: ImportReport,
    progress: ProgressFn,
) -> int:
    """Merge staged batches: each as it comes for line-based files, else all after the last."""
    created, share = 0, 1.0 if streaming else READ_SHARE
    try:
        for table in tables:
            if streaming:
                created += staging.merge(table)
            progress(share * read_fraction(), total=report.total, failed=report.failed, created=created)
    except UnreadableFile as exc:
        raise ApplicationError(str(exc)) from exc
    pending = list(staging.tables)
    for done, table in enumerate(pending, start=1):
        created += staging.merge(table)
        progress(READ_SHARE + (1 - READ_SHARE) * done / len(pending), created=created)
    return created


def _merge_values(job: ImportJob) -> dict[str, object]:
    """What the merge writes besides each row; `overlap_sql` (queue imports only) draws each
    input's target overlap."""
    unlabeled = job.initial_status == UNLABELED
    return {
        "project_id": job.project_id,
        "status": job.initial_status,
        "source": f"import:{job.pk}",
        "user_id": job.created_by_id,
        "overlap_sql": target_overlap_sql(job.project, "content_hash") if unlabeled else None,
    }


def import_errors_csv(job: ImportJob) -> str:
    """The job's reported row errors as a CSV document."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["line", "error"])
    writer.writerows([error["line"], spreadsheet_safe(error["error"])] for error in job.errors)
    return buffer.getvalue()
