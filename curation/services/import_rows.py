"""Turn mapped rows into validated, hashed rows ready for staging. No database access here:
it runs in the import's reader thread."""

from __future__ import annotations

import bisect
import threading
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

# line, record (a JSON array's element number, else 0), input, output, metadata as JSON,
# external_id, content hash
StagedRow = tuple[int, int, str, str, str, str | None, str]
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
    """Counts and the first MAX_REPORTED_ERRORS row errors, in file order.

    The reader thread reports the rows that fail validation; the merge (on the main connection,
    later) reports the rows whose identity clashes with an example already there, so `fail` takes
    a lock and keeps the errors sorted by their place in the file."""

    total: int = 0
    failed: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    _places: list[tuple[int, int]] = field(default_factory=list, init=False, repr=False, compare=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False, compare=False)

    def fail(self, line: int, message: str) -> None:
        record = line.record if isinstance(line, ArrayLine) else 0
        if record:
            message = f"Record {record}: {message}"
        place = (int(line), record)
        with self._lock:
            self.failed += 1
            at = bisect.bisect_right(self._places, place)
            if at >= MAX_REPORTED_ERRORS:
                return
            self._places.insert(at, place)
            self.errors.insert(at, {"line": int(line), "error": message})
            if len(self.errors) > MAX_REPORTED_ERRORS:
                del self._places[MAX_REPORTED_ERRORS:], self.errors[MAX_REPORTED_ERRORS:]


class StagedBatch(list[StagedRow]):
    """A batch of valid rows, with the report that the merge adds its row errors to."""

    def __init__(self, report: ImportReport) -> None:
        super().__init__()
        self.report = report


def staged_batches(
    items: Iterator[MappedItem],
    rules: ContentRules,
    report: ImportReport,
    *,
    size: int | None = None,
    inputs_only: bool = False,
) -> Iterator[StagedBatch]:
    """Validate each row; the valid ones come out in batches (of `size`, by default
    BATCH_ROWS), the others go to the report."""
    size = size or BATCH_ROWS
    batch = StagedBatch(report)
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
            chars += len(row[2]) + len(row[3]) + len(row[4])
        if len(batch) >= size or chars >= BATCH_CHARS:
            yield batch
            batch, chars = StagedBatch(report), 0
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
    record = line.record if isinstance(line, ArrayLine) else 0
    hashed = content_hash(stored_input, stored_output)
    return int(line), record, stored_input, stored_output, metadata, external_id, hashed
