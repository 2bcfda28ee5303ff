"""Readers: each yields (line number, record dict) or (line number, RowError) per record."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from typing import Any, TextIO

from curation.pipeline.errors import RowError, UnreadableFile

Record = dict[str, Any]
ReadItem = tuple[int, Record | RowError]
CHUNK_CHARS = 1 << 20
MAX_CSV_FIELD = 10 * 1024 * 1024
MAX_ELEMENT_CHARS = 64 * 1024 * 1024


def read_jsonl(text: TextIO) -> Iterator[ReadItem]:
    """One JSON object per line; blank lines are skipped, a bad line is a row error."""
    readable = 0
    for number, line in enumerate(text, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            yield number, RowError(f"Not valid JSON: {exc.msg} (column {exc.colno}).")
            continue
        if not isinstance(record, dict):
            yield number, RowError(f"Expected a JSON object, found {type(record).__name__}.")
            continue
        readable += 1
        yield number, record
    if readable == 0:
        raise UnreadableFile("No line of the file is a JSON object; is it really JSON Lines?")


def read_csv(text: TextIO, head: str) -> Iterator[ReadItem]:
    """CSV with a header row; the delimiter is sniffed from the first lines."""
    csv.field_size_limit(MAX_CSV_FIELD)
    # strict: an unterminated quote is an error, not a field that swallows the rest of the file
    reader = csv.reader(text, delimiter=_sniff_delimiter(head), strict=True)
    header = next(reader, None)
    if not header or not any(name.strip() for name in header):
        raise UnreadableFile("The CSV file has no header row.")
    names = [name.strip() for name in header]
    start = reader.line_num + 1
    try:
        for row in reader:
            line, start = start, reader.line_num + 1
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != len(names):
                yield line, RowError(f"Expected {len(names)} columns, found {len(row)}.")
                continue
            yield line, dict(zip(names, row, strict=True))
    except csv.Error as exc:
        raise UnreadableFile(f"The CSV file is malformed near line {start}: {exc}.") from exc


def _sniff_delimiter(head: str) -> str:
    """Only the delimiter is sniffed; quoting stays standard (the sniffer guesses it wrongly)."""
    sample = head[: head.rfind("\n") + 1] or head
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
    except csv.Error:
        return ","


def read_json_array(text: TextIO) -> Iterator[ReadItem]:
    """A JSON array of objects, decoded element by element so memory stays flat."""
    decoder = json.JSONDecoder()
    buffer, position, line, eof = "", 0, 1, False

    def fill() -> bool:
        nonlocal buffer, position
        chunk = text.read(CHUNK_CHARS)
        buffer, position = buffer[position:] + chunk, 0
        return chunk == ""

    eof = fill()
    position, line = _skip_space(buffer, position, line)
    if buffer[position : position + 1] != "[":
        raise UnreadableFile("The file does not start with a JSON array.")
    position += 1
    expect_value = True
    while True:
        position, line = _skip_space(buffer, position, line)
        if position >= len(buffer) - 1 and not eof:
            eof = fill()
            continue
        char = buffer[position : position + 1]
        if char == "]":
            _refuse_trailing_data(text, buffer[position + 1 :], line)
            return
        if char == "," and not expect_value:
            position, expect_value = position + 1, True
            continue
        if char == "" and eof:
            raise UnreadableFile(f"The JSON array is truncated: it ends at line {line} without ']'.")
        if not expect_value:
            raise UnreadableFile(f"The JSON array is malformed at line {line}: expected ',' or ']'.")
        try:
            value, end = decoder.raw_decode(buffer, position)
        except json.JSONDecodeError as exc:
            if not eof and len(buffer) - position < MAX_ELEMENT_CHARS:
                eof = fill()
                continue
            if exc.pos >= len(buffer.rstrip()) or exc.msg.startswith("Unterminated"):
                raise UnreadableFile(
                    f"The JSON array is truncated: the record at line {line} never ends."
                ) from exc
            raise UnreadableFile(f"The JSON array is malformed at line {line}: {exc.msg}.") from exc
        if end >= len(buffer) and not eof:
            eof = fill()  # a number may continue in the next chunk: decode it again whole
            continue
        yield (
            line,
            value
            if isinstance(value, dict)
            else RowError(f"Expected a JSON object, found {type(value).__name__}."),
        )
        line += buffer.count("\n", position, end)
        position, expect_value = end, False


def _refuse_trailing_data(text: TextIO, rest: str, line: int) -> None:
    while True:
        if rest.strip():
            raise UnreadableFile(f"The JSON array ends at line {line}, but more data follows it.")
        rest = text.read(CHUNK_CHARS)
        if not rest:
            return


def _skip_space(buffer: str, position: int, line: int) -> tuple[int, int]:
    length = len(buffer)
    while position < length and buffer[position] in " \t\r\n":
        if buffer[position] == "\n":
            line += 1
        position += 1
    return position, line
