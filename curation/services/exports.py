"""Stream a project's examples out as JSONL or CSV, in constant memory.

CSV is for spreadsheets, so its text cells are neutralized against formula injection: a cell
that starts with =, +, -, @, a tab or a carriage return gets a leading apostrophe, which
spreadsheets show as text and do not evaluate (OWASP's advice). JSONL is the lossless export.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from django.conf import settings
from django.db.models import QuerySet

from curation.errors import InvalidInput, TooLarge
from curation.models import Example, Project
from curation.models.examples import decode_input
from curation.services.export_annotations import with_annotations

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


def check_export_format(file_format: str) -> None:
    if file_format not in EXPORT_FORMATS:
        raise InvalidInput(
            f"Unknown export format {file_format!r}; use one of {', '.join(EXPORT_FORMATS)}.", field="format"
        )


def examples_export(
    *,
    project: Project,
    examples: QuerySet[Example],
    file_format: str,
    on_row: Callable[[int], None] | None = None,
    annotations: bool = False,
) -> Iterator[str]:
    """Text of the export, oldest example first (JSONL lines, CSV in chunks of whole rows);
    `on_row(n)` is told each row's number as it is rendered. With `annotations`, a row whose
    example came from the labeling queue lists every annotation of its item (JSONL: an
    `annotations` key; CSV: an `annotations` column of JSON). InvalidInput for an unknown format."""
    check_export_format(file_format)
    fields = (*EXPORT_FIELDS, "labeling_item_id") if annotations else EXPORT_FIELDS
    rows = keyset_rows(examples, key="id", fields=fields)
    records: Iterator[dict[str, Any]] = (_record(project.task_type, row, fields) for row in rows)
    if annotations:
        records = with_annotations(records, _item_of, _attach)
    if on_row is not None:
        records = _counted(records, on_row)
    if file_format == "jsonl":
        return _jsonl(records)
    return _csv(records, (*CSV_COLUMNS, "annotations") if annotations else CSV_COLUMNS)


def _item_of(record: dict[str, Any]) -> int | None:
    item: int | None = record["labeling_item_id"]
    return item


def _attach(record: dict[str, Any], answers: list[dict[str, Any]] | None) -> dict[str, Any]:
    del record["labeling_item_id"]
    if answers is not None:
        record["annotations"] = answers
    return record


def keyset_rows(
    rows: QuerySet[Any], *, key: str, fields: Sequence[str], chunk_size: int = CHUNK_ROWS
) -> Iterator[tuple[Any, ...]]:
    """The rows' `fields` in `key` order (a unique column), read a chunk at a time by `key >
    last`. No statement stays open between chunks, so the reader may write in between (its
    progress): SQLite refuses a write from a connection whose read is older than another
    connection's commit (a heartbeat), and PostgreSQL holds no snapshot for the whole read."""
    position = list(fields).index(key)
    last = None
    while True:
        page = rows if last is None else rows.filter(**{f"{key}__gt": last})
        chunk = list(page.order_by(key).values_list(*fields)[:chunk_size])
        yield from chunk
        if len(chunk) < chunk_size:
            return
        last = chunk[-1][position]


def check_streamable(*, examples: QuerySet[Example], job_route: str) -> None:
    """TooLarge, naming the export job's route, when more rows match than the streaming export
    writes within the web timeout (FINCH_EXPORT_SYNC_MAX_ROWS): a cut-off download would look
    whole. The count stops at the limit, so refusing a huge export costs little."""
    limit = settings.FINCH_EXPORT_SYNC_MAX_ROWS
    if examples.order_by()[: limit + 1].count() > limit:
        raise TooLarge(
            f"More than {limit} examples match: too many to stream within one request "
            f"(FINCH_EXPORT_SYNC_MAX_ROWS). Start an export job instead: POST {job_route} with the "
            "same filters and format, then download the file from the job's download_url."
        )


def _counted(records: Iterator[dict[str, Any]], on_row: Callable[[int], None]) -> Iterator[dict[str, Any]]:
    for number, record in enumerate(records, start=1):
        on_row(number)
        yield record


def _record(task_type: str, row: tuple[Any, ...], fields: Sequence[str] = EXPORT_FIELDS) -> dict[str, Any]:
    record = dict(zip(fields, row, strict=True))
    record["input"] = decode_input(task_type, record["input"])
    record["duplicate_of"] = record.pop("duplicate_of_id")
    return record


def _jsonl(records: Iterator[dict[str, Any]]) -> Iterator[str]:
    for record in records:
        yield json.dumps(record, ensure_ascii=False) + "\n"


def _csv(records: Iterator[dict[str, Any]], columns: Sequence[str] = CSV_COLUMNS) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(columns)
    for record in records:
        record["metadata"] = json.dumps(record["metadata"], ensure_ascii=False)
        if not isinstance(record["input"], str):
            record["input"] = json.dumps(record["input"], ensure_ascii=False)
        if "annotations" in record:
            record["annotations"] = json.dumps(record["annotations"], ensure_ascii=False)
        writer.writerow([spreadsheet_safe(record.get(column, "")) for column in columns])
        if buffer.tell() > 64 * 1024:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()
