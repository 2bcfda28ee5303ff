"""Turn mapped rows into validated, hashed rows ready for staging. No database access here:
it runs in the import's reader thread."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from curation.errors import ApplicationError
from curation.models import ExampleStatus, ImportJob
from curation.pipeline.errors import RowError
from curation.pipeline.formats import MappedItem
from curation.pipeline.mapping import MappedRow
from curation.services.content import content_hash, validate_content
from curation.services.examples import checked_external_id, metadata_json

# line, input, output, metadata as JSON, external_id, content hash
StagedRow = tuple[int, str, str, str, str | None, str]
MAX_REPORTED_ERRORS = 1000
BATCH_ROWS = 20_000


@dataclass(frozen=True)
class RowRules:
    """The project settings a row is validated against, copied so the reader needs no database."""

    task_type: str
    labels: list[str]
    output_schema: dict[str, Any] | None
    require_output: bool

    @classmethod
    def for_job(cls, job: ImportJob) -> RowRules:
        project = job.project
        return cls(
            task_type=project.task_type,
            labels=list(project.labels),
            output_schema=project.output_schema,
            require_output=job.initial_status != ExampleStatus.DRAFT,
        )


@dataclass
class ImportReport:
    total: int = 0
    failed: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)

    def fail(self, line: int, message: str) -> None:
        self.failed += 1
        if len(self.errors) < MAX_REPORTED_ERRORS:
            self.errors.append({"line": line, "error": message})


def staged_batches(
    items: Iterator[MappedItem], rules: RowRules, report: ImportReport, *, size: int = BATCH_ROWS
) -> Iterator[list[StagedRow]]:
    """Validate each row; the valid ones come out in batches, the others go to the report."""
    batch: list[StagedRow] = []
    for line, item in items:
        report.total += 1
        try:
            if isinstance(item, RowError):
                raise item
            batch.append(staged_row(line, item, rules))
        except (RowError, ApplicationError) as exc:
            report.fail(line, str(exc))
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def staged_row(line: int, row: MappedRow, rules: RowRules) -> StagedRow:
    stored_input, stored_output = validate_content(
        task_type=rules.task_type,
        labels=rules.labels,
        output_schema=rules.output_schema,
        input_value=row.input,
        output_value=row.output,
        require_output=rules.require_output,
    )
    metadata = metadata_json(row.metadata)
    external_id = checked_external_id(row.external_id)
    return line, stored_input, stored_output, metadata, external_id, content_hash(stored_input, stored_output)
