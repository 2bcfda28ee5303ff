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
from curation.pipeline.readers import ArrayLine
from curation.services.content import ContentRules, content_hash
from curation.services.examples import checked_external_id, metadata_json

# line, input, output, metadata as JSON, external_id, content hash
StagedRow = tuple[int, str, str, str, str | None, str]
MAX_REPORTED_ERRORS = 1000
BATCH_ROWS = 20_000
# Also cut a batch at this much text: up to three batches are in memory at once (reading,
# staging, merging), and rows may be large.
BATCH_CHARS = 64 * 1024 * 1024


# An import's initial_status that sends its rows to the labeling queue instead of examples.
UNLABELED = "unlabeled"


def rules_for(job: ImportJob) -> ContentRules:
    """The project's content rules for the import's rows (a copy the reader thread can use)."""
    require_output = job.initial_status not in (ExampleStatus.DRAFT, UNLABELED)
    return ContentRules.for_project(job.project, require_output=require_output)


@dataclass
class ImportReport:
    total: int = 0
    failed: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)

    def fail(self, line: int, message: str) -> None:
        self.failed += 1
        if isinstance(line, ArrayLine):
            message = f"Record {line.record}: {message}"
        if len(self.errors) < MAX_REPORTED_ERRORS:
            self.errors.append({"line": int(line), "error": message})


def staged_batches(
    items: Iterator[MappedItem],
    rules: ContentRules,
    report: ImportReport,
    *,
    size: int = BATCH_ROWS,
    inputs_only: bool = False,
) -> Iterator[list[StagedRow]]:
    """Validate each row; the valid ones come out in batches, the others go to the report."""
    batch: list[StagedRow] = []
    chars = 0
    for line, item in items:
        report.total += 1
        try:
            if isinstance(item, RowError):
                raise item
            if inputs_only:
                refuse_output(line, item)
            row = staged_row(line, item, rules)
        except (RowError, ApplicationError) as exc:
            report.fail(line, str(exc))
        else:
            batch.append(row)
            chars += len(row[1]) + len(row[2]) + len(row[3])
        if len(batch) >= size or chars >= BATCH_CHARS:
            yield batch
            batch, chars = [], 0
    if batch:
        yield batch


def refuse_output(line: int, row: MappedRow) -> None:
    """A labeling-queue import takes inputs only: an answer in the file would be silently lost."""
    output = row.output
    if output is not None and (not isinstance(output, str) or output.strip()):
        raise RowError(
            f"This import fills the labeling queue; row {line} has an output. Leave the output out "
            "(or empty), or import the file as examples."
        )


def staged_row(line: int, row: MappedRow, rules: ContentRules) -> StagedRow:
    stored_input, stored_output = rules.validate(row.input, row.output)
    metadata = metadata_json(row.metadata)
    external_id = checked_external_id(row.external_id)
    return line, stored_input, stored_output, metadata, external_id, content_hash(stored_input, stored_output)
