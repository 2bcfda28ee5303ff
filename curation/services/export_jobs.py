"""Export jobs: a project's examples (filtered like the list) or a version's split, written by a
worker into a file in storage, then served from there with its Content-Length.

A download must be whole or fail visibly, at any size. So the worker writes to a partial file
under FILE_UPLOAD_TEMP_DIR, hashing and counting on the way, and only then publishes it into
storage (a rename on the filesystem storage, one upload on S3) and records its row count, size
and sha256, all at the end. A worker killed before that leaves a job that is still `running`
with no count, hash or file; the reaper fails it and removes the partial file. Published files
are kept FINCH_EXPORT_RETENTION_HOURS, then beat deletes them and marks the job expired.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable, Iterator, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from curation import selectors
from curation.errors import InvalidInput
from curation.models import DatasetVersion, ExportJob, JobStatus, Project
from curation.services import version_exports
from curation.services.audit import audit
from curation.services.dispatch import job_send_on_commit
from curation.services.exports import check_export_format, examples_export
from curation.services.jobs import ProgressFn, job_fail_if_running
from curation.services.version_exports import HF_FORMAT

WRITE_CHUNK = 1 << 20
EXTENSIONS = {"jsonl": "jsonl", "csv": "csv", HF_FORMAT: "zip"}


def clean_filters(filters: Mapping[str, Any]) -> dict[str, str]:
    """The examples list's filters that are set, as the strings the list reads."""
    cleaned = {}
    for name in selectors.EXAMPLE_FILTERS:
        value = filters.get(name)
        if value is None or value == "":
            continue
        cleaned[name] = str(value).lower() if isinstance(value, bool) else str(value)
    return cleaned


@transaction.atomic
def export_job_create(
    *,
    project: Project,
    user: User,
    file_format: str,
    filters: Mapping[str, Any],
    annotations: bool = False,
) -> ExportJob:
    """Queue an export of the project's examples that match `filters` (with every annotation of
    labeled rows, on request); InvalidInput names a bad format or filter."""
    check_export_format(file_format)
    cleaned = clean_filters(filters)
    selectors.example_list(project=project, filters=cleaned)  # refuses a bad filter now, not later
    job = ExportJob.objects.create(
        project=project, created_by=user, format=file_format, filters=cleaned, annotations=annotations
    )
    described = ", ".join(f"{name}={value}" for name, value in cleaned.items()) or "all examples"
    _started(job, user, f"Started export {job.pk} ({file_format}, {described})")
    return job


@transaction.atomic
def version_export_job_create(
    *, version: DatasetVersion, user: User, split: str, file_format: str, annotations: bool = False
) -> ExportJob:
    """Queue an export of a frozen version's split in a fine-tuning format (jsonl: with every
    annotation of labeled rows, on request); InvalidInput names a bad split or format."""
    version_exports.check_export_request(split, file_format)
    version_exports.check_annotations_fit(file_format, annotations)
    if file_format == HF_FORMAT and split != "all":
        raise InvalidInput("hf_parquet holds the whole version: use split all.", field="split")
    job = ExportJob.objects.create(
        project=version.project,
        version=version,
        split=split,
        format=file_format,
        created_by=user,
        annotations=annotations,
    )
    _started(job, user, f"Started export {job.pk} of version {version.number} ({split}, {file_format})")
    return job


def _started(job: ExportJob, user: User, summary: str) -> None:
    from curation.tasks import export_data

    audit(project=job.project_id, actor=user, action="export.start", target=job, summary=summary)
    job_send_on_commit(job, lambda: export_data.delay(job.pk))


def export_run(job: ExportJob, progress: ProgressFn) -> None:
    """Write the job's file whole, publish it, then record its row count, size and sha256."""
    total = _source_total(job)
    ExportJob.objects.filter(pk=job.pk).update(total=total)
    rows = 0

    def seen(number: int) -> None:
        nonlocal rows
        rows = number
        progress(number / max(total, 1))

    partial = partial_path(job)
    partial.parent.mkdir(parents=True, exist_ok=True)
    try:
        if job.format == HF_FORMAT:
            size, sha256 = _write_archive(job, partial)
            rows = total
        else:
            size, sha256 = _write(_text(job, seen), partial)
        name = _publish(job, partial)
    finally:
        partial.unlink(missing_ok=True)
    _record(job, name=name, rows=rows, size=size, sha256=sha256)


def _source_total(job: ExportJob) -> int:
    if job.version is not None:
        counts = job.version.counts or {}
        wanted = ("train", "eval") if job.split == "all" else (job.split,)
        return sum(int(counts.get(split, 0)) for split in wanted)
    return selectors.example_list(project=job.project, filters=job.filters).count()


def _text(job: ExportJob, seen: Callable[[int], None]) -> Iterator[str]:
    if job.version is None:
        examples = selectors.example_list(project=job.project, filters=job.filters)
        return examples_export(
            project=job.project,
            examples=examples,
            file_format=job.format,
            on_row=seen,
            annotations=job.annotations,
        )
    lines = version_exports.export_lines(job.version, job.split, job.format, annotations=job.annotations)
    return _numbered(lines, seen)


def _numbered(lines: Iterator[str], seen: Callable[[int], None]) -> Iterator[str]:
    for number, line in enumerate(lines, start=1):
        seen(number)
        yield line


def _write(text: Iterator[str], partial: Path) -> tuple[int, str]:
    """Write the text to the partial file, durably; its size and sha256."""
    digest, size, buffer = hashlib.sha256(), 0, []
    with partial.open("wb") as out:
        for piece in text:
            buffer.append(piece)
            if len(buffer) >= 1000:
                size += _flush(out, buffer, digest)
        size += _flush(out, buffer, digest)
        out.flush()
        os.fsync(out.fileno())
    return size, digest.hexdigest()


def _flush(out: Any, buffer: list[str], digest: Any) -> int:
    data = "".join(buffer).encode("utf-8")
    out.write(data)
    digest.update(data)
    buffer.clear()
    return len(data)


def _write_archive(job: ExportJob, partial: Path) -> tuple[int, str]:
    """A version's zipped Hugging Face DatasetDict, written to the partial file; its size and sha256."""
    assert job.version is not None
    with tempfile.TemporaryDirectory(dir=partial.parent) as scratch, partial.open("wb") as out:
        version_exports.hf_archive_write(job.version, Path(scratch), out)
        out.flush()
        os.fsync(out.fileno())
    digest = hashlib.sha256()
    with partial.open("rb") as written:
        while chunk := written.read(WRITE_CHUNK):
            digest.update(chunk)
    return partial.stat().st_size, digest.hexdigest()


class _PartialFile(File):
    """A finished partial file: FileSystemStorage moves it into place (a rename on one disk)
    instead of copying it; other storages upload it."""

    def temporary_file_path(self) -> str:
        return str(self.name)


def _publish(job: ExportJob, partial: Path) -> str:
    name = published_name(job)
    default_storage.delete(name)  # a redelivered task's earlier file
    with partial.open("rb") as handle:
        return default_storage.save(name, _PartialFile(handle, name=str(partial)))


def _record(job: ExportJob, *, name: str, rows: int, size: int, sha256: str) -> None:
    expires = timezone.now() + timedelta(hours=settings.FINCH_EXPORT_RETENTION_HOURS)
    fields = {"file_name": name, "row_count": rows, "size": size, "sha256": sha256, "expires_at": expires}
    try:
        ExportJob.objects.filter(pk=job.pk).update(**fields)
    except Exception:
        default_storage.delete(name)  # never a published file that no job describes
        raise
    for field, value in fields.items():
        setattr(job, field, value)


def partial_path(job: ExportJob) -> Path:
    return Path(settings.FILE_UPLOAD_TEMP_DIR) / f"export-{job.pk}.partial"


def published_name(job: ExportJob) -> str:
    extension = EXTENSIONS.get(job.format, "jsonl")
    return f"exports/project-{job.project_id}/export-{job.pk}.{extension}"


def download_filename(job: ExportJob) -> str:
    if job.format == HF_FORMAT and job.version is not None:
        return f"project-{job.project_id}-v{job.version.number}-hf.zip"
    if job.version is not None:
        return f"project-{job.project_id}-v{job.version.number}-{job.split}-{job.format}.jsonl"
    return f"project-{job.project_id}-examples-{job.pk}.{EXTENSIONS.get(job.format, 'jsonl')}"


def export_files_discard(job: ExportJob) -> None:
    """The partial file (when this host can see it) and any published file of the job."""
    partial_path(job).unlink(missing_ok=True)
    default_storage.delete(published_name(job))


def export_fail_stale(job: ExportJob, error: str) -> bool:
    """A dead worker's export recorded no count or hash; its partial file is removed."""
    cleared: dict[str, Any] = {"row_count": None, "size": None, "sha256": "", "file_name": ""}
    if not job_fail_if_running(job, error + " No file was kept; export again.", **cleared):
        return False
    export_files_discard(job)
    return True


def exports_expire() -> int:
    """Delete the files of exports past their retention and mark the jobs expired; how many."""
    now = timezone.now()
    due = ExportJob.objects.filter(status=JobStatus.SUCCEEDED, expired_at__isnull=True, expires_at__lte=now)
    expired = 0
    for job in due.iterator():
        if job.file_name:
            default_storage.delete(job.file_name)
        expired += ExportJob.objects.filter(pk=job.pk, expired_at__isnull=True).update(expired_at=now)
    return expired


def stored_version_export(version: DatasetVersion, split: str, file_format: str) -> ExportJob | None:
    """The newest downloadable export job's file of this version's split and format, if any
    (a version never changes, so any finished export of it is the file)."""
    return (
        ExportJob.objects.filter(
            version=version,
            split=split,
            format=file_format,
            annotations=False,  # the plain file; annotated ones are their own
            status=JobStatus.SUCCEEDED,
            expired_at=None,
        )
        .exclude(file_name="")
        .order_by("-id")
        .first()
    )
