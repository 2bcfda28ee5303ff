"""Detect a file's format and read it as mapped rows."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any, TextIO

from curation.pipeline.bounded import DEFAULT_MAX_ROW_BYTES
from curation.pipeline.decoding import BLANK
from curation.pipeline.errors import RowError, UnreadableFile
from curation.pipeline.mapping import FieldMapping, MappedRow, map_alpaca, map_openai_chat, map_plain
from curation.pipeline.readers import ReadItem, read_csv, read_json_array, read_jsonl

# `parquet` is read by curation.pipeline.parquet (binary, so never through open_text).
FORMATS = ("auto", "jsonl", "csv", "json", "openai_chat", "alpaca", "parquet")
TEXT_FORMATS = FORMATS[1:-1]
MappedItem = tuple[int, MappedRow | RowError]
LINE_END = re.compile(r"\r\n|\r|\n")


def detect_format(head: str) -> str:
    """Guess the format from the file's first characters (see open_text)."""
    stripped = head.lstrip(BLANK)
    if stripped.startswith("["):
        record = _decoded(stripped[1:].lstrip(BLANK), whole=False)
        return "alpaca" if "instruction" in record else "json"
    if stripped.startswith("{"):
        record = _first_line_record(stripped)
        if "messages" in record:
            return "openai_chat"
        return "alpaca" if "instruction" in record else "jsonl"
    return "csv"


def _first_line_record(text: str) -> dict[str, Any]:
    """The first line that is a JSON object (a bad or cut-off first record does not decide)."""
    for line in LINE_END.split(text):
        if record := _decoded(line.strip(), whole=True):
            return record
    return {}


def _decoded(text: str, *, whole: bool) -> dict[str, Any]:
    """The JSON object at the start of the text (the whole text, if `whole`), else {}."""
    try:
        value = json.loads(text) if whole else json.JSONDecoder().raw_decode(text)[0]
    except (ValueError, RecursionError):  # not JSON, or JSON too deep or large to tell
        return {}
    return value if isinstance(value, dict) else {}


def _refuse_one_object(head: str) -> None:
    """A file read by line that is one JSON object over several lines (`{"data": [...]}`, say)
    would land only its lines that happen to be records: refuse it whole."""
    text = head.lstrip(BLANK)
    first = LINE_END.search(text)
    if not text.startswith("{") or first is None or _decoded(text[: first.start()].strip(), whole=True):
        return
    following = len(text) - len(text[first.end() :].lstrip(BLANK))
    try:
        _, end = json.JSONDecoder().raw_decode(text)
    except json.JSONDecodeError as exc:
        end = exc.pos  # as far as the head's JSON goes
    except (ValueError, RecursionError):
        return
    if end > following:  # the object on the first line goes on past the start of the next
        raise UnreadableFile(
            "The file is one JSON object over several lines, not a list of records or one record "
            "per line: put the records in a JSON list, or in JSON Lines (one record per line)."
        )


def mapped_rows(
    text: TextIO,
    head: str,
    file_format: str,
    mapping: FieldMapping,
    task_type: str,
    max_row_bytes: int = DEFAULT_MAX_ROW_BYTES,
) -> Iterator[MappedItem]:
    """Every record of the file as (line, MappedRow) or (line, RowError)."""
    return mapped_records(_records(text, head, file_format, max_row_bytes), file_format, mapping, task_type)


def mapped_records(
    records: Iterator[ReadItem], record_format: str, mapping: FieldMapping, task_type: str
) -> Iterator[MappedItem]:
    """Records read from a file, each mapped as its format says (a Parquet file's rows too)."""
    for line, item in records:
        if isinstance(item, RowError):
            yield line, item
            continue
        try:
            if record_format == "openai_chat":
                yield line, map_openai_chat(item, task_type)
            elif record_format == "alpaca":
                yield line, map_alpaca(item, mapping)
            else:
                yield line, map_plain(item, mapping)
        except RowError as exc:
            yield line, exc


def reads_by_line(file_format: str, head: str) -> bool:
    """True for JSON Lines files: each line stands alone, so no later line can spoil the file."""
    if file_format in ("jsonl", "openai_chat"):
        return True
    return file_format == "alpaca" and not head.lstrip(BLANK).startswith("[")


def _records(text: TextIO, head: str, file_format: str, max_row_bytes: int) -> Iterator[ReadItem]:
    if file_format not in TEXT_FORMATS:
        raise UnreadableFile(f"Unknown format {file_format!r}; use one of {', '.join(TEXT_FORMATS)}.")
    if file_format == "csv":
        return read_csv(text, head, max_row_bytes)
    if reads_by_line(file_format, head):
        _refuse_one_object(head)
        return read_jsonl(text, max_row_bytes)
    return read_json_array(text, max_row_bytes)
