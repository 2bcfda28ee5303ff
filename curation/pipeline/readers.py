"""Readers: each yields (line number, record dict) or (line number, RowError) per record.

No row larger than the row limit is ever held whole (see bounded.py), and a value no database
can store (NaN, 1e999, a huge integer, deep nesting) fails its row, not the file.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from typing import Any, TextIO

from curation.pipeline.bounded import (
    DEFAULT_MAX_ROW_BYTES,
    CsvLines,
    Overlong,
    ValueSkipper,
    bounded_lines,
    too_large,
    utf8_over,
)
from curation.pipeline.errors import RowError, UnreadableFile
from curation.pipeline.json_values import decoder, unstorable

Record = dict[str, Any]
ReadItem = tuple[int, Record | RowError]


class ArrayLine(int):
    """The line a JSON array's element starts on, carrying the element's number (from 1): the
    rows of an array written on one line (json.dump's way) all start on line 1, so a row's error
    names its record too (curation.services.import_rows)."""

    record: int

    def __new__(cls, line: int, record: int) -> ArrayLine:
        place = super().__new__(cls, line)
        place.record = record
        return place


CHUNK_CHARS = 1 << 20
MAX_CSV_FIELD = 10 * 1024 * 1024
DECODER = decoder()


def read_jsonl(text: TextIO, max_row_bytes: int = DEFAULT_MAX_ROW_BYTES) -> Iterator[ReadItem]:
    """One JSON object per line; blank lines are skipped, a bad or overlong line is a row error."""
    rows = 0
    for number, line in enumerate(bounded_lines(text, max_row_bytes), start=1):
        if isinstance(line, Overlong):
            rows += 1
            yield number, RowError(too_large(max_row_bytes))
            continue
        if not line.strip():
            continue
        item = _json_record(line)
        rows += isinstance(item, dict)
        yield number, item
    if rows == 0:
        raise UnreadableFile("No line of the file is a JSON object; is it really JSON Lines?")


def _json_record(line: str) -> Record | RowError:
    # Without its line ending: a record cut short fails after the ending, which json would
    # count as column 1 of a next line.
    body = line.rstrip("\r\n")
    try:
        record = DECODER.decode(body)
    except json.JSONDecodeError as exc:
        # A record cut short fails one past its last character: name that last character.
        return RowError(f"Not valid JSON: {exc.msg} (column {min(exc.colno, len(body))}).")
    except (ValueError, RecursionError) as exc:
        return RowError(f"The record {unstorable(exc)}.")
    if not isinstance(record, dict):
        return RowError(f"Expected a JSON object, found {type(record).__name__}.")
    return record


def read_csv(text: TextIO, head: str, max_row_bytes: int = DEFAULT_MAX_ROW_BYTES) -> Iterator[ReadItem]:
    """CSV with a header row; the delimiter is sniffed from the first lines."""
    csv.field_size_limit(MAX_CSV_FIELD)
    lines = CsvLines(text, max_row_bytes)
    # strict: an unterminated quote is an error, not a field that swallows the rest of the file
    reader = csv.reader(lines, delimiter=_sniff_delimiter(head), strict=True)
    header = _csv_header(reader, lines, max_row_bytes)
    start = reader.line_num + 1
    try:
        for row in reader:
            line, start = start, reader.line_num + lines.hidden + 1
            item = _csv_record(header, row, lines.over, max_row_bytes)
            lines.record_done()
            if item is not None:
                yield line, item
    except csv.Error as exc:
        raise UnreadableFile(f"The CSV file is malformed near line {start}: {exc}.") from exc


def _csv_header(reader: Iterator[list[str]], lines: CsvLines, max_row_bytes: int) -> list[str]:
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise UnreadableFile(f"The CSV file's header row is malformed: {exc}.") from exc
    if lines.over:
        raise UnreadableFile(f"The CSV file's header row is larger than {max_row_bytes:,} bytes.")
    lines.record_done()
    if not header or not any(name.strip() for name in header):
        raise UnreadableFile("The CSV file has no header row.")
    names = [name.strip() for name in header]
    _refuse_repeated_names(names)
    return names


def _refuse_repeated_names(names: list[str]) -> None:
    """A row is a record keyed by column name: a repeated name would keep only its last column."""
    columns: dict[str, list[int]] = {}
    for number, name in enumerate(names, start=1):
        columns.setdefault(name, []).append(number)
    repeated = [
        f"{repr(name) if name else 'an empty name'} (columns {', '.join(map(str, numbers))})"
        for name, numbers in columns.items()
        if len(numbers) > 1
    ]
    if repeated:
        raise UnreadableFile(
            f"The CSV file's header gives several columns the same name: {'; '.join(repeated)}. "
            "Each column needs a name of its own, or one column's values would be lost: rename or "
            "remove the repeated columns and upload the file again."
        )


def _csv_record(names: list[str], row: list[str], over: bool, max_row_bytes: int) -> Record | RowError | None:
    """The row as a record; a row error; or None for a blank line."""
    if over:
        return RowError(too_large(max_row_bytes))
    if not any(cell.strip() for cell in row):
        return None
    if len(row) != len(names):
        return RowError(f"Expected {len(names)} columns, found {len(row)}.")
    return dict(zip(names, row, strict=True))


def _sniff_delimiter(head: str) -> str:
    """Only the delimiter is sniffed; quoting stays standard (the sniffer guesses it wrongly)."""
    sample = head[: head.rfind("\n") + 1] or head
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
    except csv.Error:
        return ","


def read_json_array(text: TextIO, max_row_bytes: int = DEFAULT_MAX_ROW_BYTES) -> Iterator[ReadItem]:
    """A JSON array of objects, decoded element by element so memory stays flat."""
    return _JsonArray(text, max_row_bytes).items()


class _JsonArray:
    """A window on the file holding at most one element (up to the row limit) beyond the read
    position; an element over the limit is skipped through without being held."""

    def __init__(self, text: TextIO, limit: int) -> None:
        self.text, self.limit = text, limit
        self.buffer, self.position, self.line, self.eof = "", 0, 1, False
        self.records = 0

    def items(self) -> Iterator[ReadItem]:
        self._fill()
        self._skip_space()
        if self.buffer[self.position : self.position + 1] != "[":
            raise UnreadableFile("The file does not start with a JSON array.")
        self.position += 1
        expect_value = True
        while True:
            self._skip_space()
            if self.position >= len(self.buffer) - 1 and not self.eof:
                self._fill()
                continue
            char = self.buffer[self.position : self.position + 1]
            if char == "]":
                _refuse_trailing_data(self.text, self.buffer[self.position + 1 :], self.line)
                return
            if char == "," and not expect_value:
                self.position, expect_value = self.position + 1, True
                continue
            if char == "" and self.eof:
                raise UnreadableFile(f"The JSON array is truncated: it ends at line {self.line} without ']'.")
            if not expect_value:
                raise UnreadableFile(f"The JSON array is malformed at line {self.line}: expected ',' or ']'.")
            if (item := self._element()) is not None:
                self.records += 1
                yield ArrayLine(item[0], self.records), item[1]
                expect_value = False

    def _element(self) -> ReadItem | None:
        """The element at the position, or None when more of the file must be read first."""
        start, line = self.position, self.line
        try:
            value, end = DECODER.raw_decode(self.buffer, start)
        except json.JSONDecodeError as exc:
            return self._undecoded(exc)
        except (ValueError, RecursionError) as exc:
            self._skip_value()
            return line, RowError(f"The record {unstorable(exc)}.")
        if end >= len(self.buffer) and not self.eof:
            self._fill()  # a number may continue in the next chunk: decode it again whole
            return None
        over = (end - start) * 4 > self.limit and utf8_over(self.buffer[start:end], self.limit)
        self._advance(end)
        if over:
            return line, RowError(too_large(self.limit))
        if not isinstance(value, dict):
            return line, RowError(f"Expected a JSON object, found {type(value).__name__}.")
        return line, value

    def _undecoded(self, exc: json.JSONDecodeError) -> ReadItem | None:
        """An element that does not decode: read on, skip it as too large, or fail the file."""
        ends_early = exc.pos >= len(self.buffer.rstrip()) or exc.msg.startswith("Unterminated")
        if not self.eof and len(self.buffer) - self.position < self.limit:
            self._fill()
            return None
        if ends_early and not self.eof:  # still going past the limit
            line = self.line
            self._skip_value()
            return line, RowError(too_large(self.limit))
        if ends_early:
            raise UnreadableFile(f"The JSON array is truncated: the record at line {self.line} never ends.")
        raise UnreadableFile(f"The JSON array is malformed at line {self.line}: {exc.msg}.")

    def _skip_value(self) -> None:
        """Move past the element at the position, reading (and dropping) as much as it takes."""
        line, skipper = self.line, ValueSkipper(self.buffer[self.position])
        end = skipper.feed(self.buffer, self.position)
        while end is None:
            self.line += self.buffer.count("\n", self.position)
            chunk = self.text.read(CHUNK_CHARS)
            if not chunk:
                raise UnreadableFile(f"The JSON array is truncated: the record at line {line} never ends.")
            self.buffer, self.position = chunk, 0
            end = skipper.feed(self.buffer, 0)
        self._advance(end)

    def _advance(self, end: int) -> None:
        self.line += self.buffer.count("\n", self.position, end)
        self.position = end

    def _fill(self) -> None:
        chunk = self.text.read(CHUNK_CHARS)
        self.buffer, self.position = self.buffer[self.position :] + chunk, 0
        self.eof = chunk == ""

    def _skip_space(self) -> None:
        self.position, self.line = _skip_space(self.buffer, self.position, self.line)


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
