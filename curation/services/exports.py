"""Stream a project's examples out as JSONL or CSV, in constant memory.

CSV is for spreadsheets, so its text cells are neutralized against formula injection: a cell
that starts with =, +, -, @, a tab or a carriage return gets a leading apostrophe, which
spreadsheets show as text and do not evaluate (OWASP's advice). JSONL is the lossless export.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import Any

from django.db.models import QuerySet

from curation.errors import InvalidInput
from curation.models import Example, Project
from curation.models.examples import decode_input

EXPORT_FORMATS = ("jsonl", "csv")
EXPORT_FIELDS = ("id", "input", "output", "metadata", "external_id", "status", "source", "duplicate_of_id")
CSV_COLUMNS = ("id", "input", "output", "status", "source", "external_id", "duplicate_of", "metadata")
CHUNK_ROWS = 2000
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: Any) -> Any:
    """A text cell that a spreadsheet will not run as a formula (other values unchanged)."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def examples_export(*, project: Project, examples: QuerySet[Example], file_format: str) -> Iterator[str]:
    """Lines of the export, oldest example first. InvalidInput for an unknown format."""
    if file_format not in EXPORT_FORMATS:
        raise InvalidInput(
            f"Unknown export format {file_format!r}; use one of {', '.join(EXPORT_FORMATS)}.", field="format"
        )
    rows = examples.order_by("id").values_list(*EXPORT_FIELDS).iterator(chunk_size=CHUNK_ROWS)
    records = (_record(project.task_type, row) for row in rows)
    return _jsonl(records) if file_format == "jsonl" else _csv(records)


def _record(task_type: str, row: tuple[Any, ...]) -> dict[str, Any]:
    record = dict(zip(EXPORT_FIELDS, row, strict=True))
    record["input"] = decode_input(task_type, record["input"])
    record["duplicate_of"] = record.pop("duplicate_of_id")
    return record


def _jsonl(records: Iterator[dict[str, Any]]) -> Iterator[str]:
    for record in records:
        yield json.dumps(record, ensure_ascii=False) + "\n"


def _csv(records: Iterator[dict[str, Any]]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for record in records:
        record["metadata"] = json.dumps(record["metadata"], ensure_ascii=False)
        if not isinstance(record["input"], str):
            record["input"] = json.dumps(record["input"], ensure_ascii=False)
        writer.writerow([spreadsheet_safe(record[column]) for column in CSV_COLUMNS])
        if buffer.tell() > 64 * 1024:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()
