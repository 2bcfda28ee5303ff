"""Detect a file's format and read it as mapped rows."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TextIO

from curation.pipeline.bounded import DEFAULT_MAX_ROW_BYTES
from curation.pipeline.errors import RowError, UnreadableFile
from curation.pipeline.mapping import FieldMapping, MappedRow, map_alpaca, map_openai_chat, map_plain
from curation.pipeline.readers import ReadItem, read_csv, read_json_array, read_jsonl

FORMATS = ("auto", "jsonl", "csv", "json", "openai_chat", "alpaca")
MappedItem = tuple[int, MappedRow | RowError]


def detect_format(head: str) -> str:
    """Guess the format from the file's first characters."""
    stripped = head.lstrip("\ufeff \t\r\n")
    if stripped.startswith("["):
        return "alpaca" if _first_record_has(stripped[1:], "instruction") else "json"
    if stripped.startswith("{"):
        if _first_record_has(stripped, "messages"):
            return "openai_chat"
        return "alpaca" if _first_record_has(stripped, "instruction") else "jsonl"
    return "csv"


def _first_record_has(text: str, key: str) -> bool:
    try:
        record, _ = json.JSONDecoder().raw_decode(text.lstrip(" \t\r\n"))
    except (ValueError, RecursionError):  # not JSON, or JSON too deep or large to tell
        return False
    return isinstance(record, dict) and key in record


def mapped_rows(
    text: TextIO,
    head: str,
    file_format: str,
    mapping: FieldMapping,
    task_type: str,
    max_row_bytes: int = DEFAULT_MAX_ROW_BYTES,
) -> Iterator[MappedItem]:
    """Every record of the file as (line, MappedRow) or (line, RowError)."""
    for line, item in _records(text, head, file_format, max_row_bytes):
        if isinstance(item, RowError):
            yield line, item
            continue
        try:
            if file_format == "openai_chat":
                yield line, map_openai_chat(item, task_type)
            elif file_format == "alpaca":
                yield line, map_alpaca(item, mapping)
            else:
                yield line, map_plain(item, mapping)
        except RowError as exc:
            yield line, exc


def reads_by_line(file_format: str, head: str) -> bool:
    """True for JSON Lines files: each line stands alone, so no later line can spoil the file."""
    if file_format in ("jsonl", "openai_chat"):
        return True
    return file_format == "alpaca" and not head.lstrip("\ufeff \t\r\n").startswith("[")


def _records(text: TextIO, head: str, file_format: str, max_row_bytes: int) -> Iterator[ReadItem]:
    if file_format not in FORMATS or file_format == "auto":
        raise UnreadableFile(f"Unknown format {file_format!r}; use one of {', '.join(FORMATS[1:])}.")
    if file_format == "csv":
        return read_csv(text, head, max_row_bytes)
    if reads_by_line(file_format, head):
        return read_jsonl(text, max_row_bytes)
    return read_json_array(text, max_row_bytes)
