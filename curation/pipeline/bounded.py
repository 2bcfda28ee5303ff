"""Read a file's rows without ever holding one larger than the row limit.

A row over the limit (a 500 MB line, a CSV record, one element of a JSON array) is read through
in chunks and dropped, and becomes a row error; memory stays near the limit whatever the file.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TextIO

DEFAULT_MAX_ROW_BYTES = 8 * 1024 * 1024
SKIP_CHARS = 1 << 20


def too_large(limit: int) -> str:
    return f"The row is larger than {limit:,} bytes (FINCH_MAX_ROW_BYTES); it was skipped."


def utf8_length(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


def utf8_over(text: str, limit: int) -> bool:
    """Whether the text takes more than `limit` bytes as UTF-8 (encoding it only when it may)."""
    if len(text) > limit:
        return True
    return len(text) * 4 > limit and utf8_length(text) > limit


@dataclass(frozen=True)
class Overlong:
    """A physical line over the limit, read through and dropped."""

    odd_quotes: bool  # for CSV: whether it toggled the quoting state


def bounded_lines(text: TextIO, limit: int) -> Iterator[str | Overlong]:
    """The physical lines of the text; a line over `limit` bytes comes out as an Overlong."""
    while line := text.readline(limit + 1):
        if len(line) > limit:
            yield _read_through(text, line)
        elif utf8_over(line, limit):
            yield Overlong(odd_quotes=line.count('"') % 2 == 1)
        else:
            yield line


def _ends_line(line: str) -> bool:
    return line[-1] in "\n\r"


def _read_through(text: TextIO, piece: str) -> Overlong:
    quotes = piece.count('"')
    while not _ends_line(piece):
        piece = text.readline(SKIP_CHARS)
        if not piece:
            break
        quotes += piece.count('"')
    return Overlong(odd_quotes=quotes % 2 == 1)


class CsvLines:
    """Physical lines for csv.reader, each record held to the limit: the rest of a record that
    runs over it is read through (until its quotes balance at a line's end) and replaced by one
    line that ends the record where csv.reader stands, so the records after it parse as before."""

    def __init__(self, text: TextIO, limit: int) -> None:
        self.lines = bounded_lines(text, limit)
        self.limit = limit
        self.record_bytes = 0
        self.open_quote = False  # whether the record's lines so far leave a quoted field open
        self.over = False
        self.hidden = 0  # lines read through and never shown to csv.reader (for line numbers)

    def __iter__(self) -> CsvLines:
        return self

    def __next__(self) -> str:
        line = next(self.lines)
        if not isinstance(line, Overlong):
            self.record_bytes += utf8_length(line)
            if self.record_bytes <= self.limit:
                self.open_quote ^= _odd_quotes(line)
                return line
        self.over = True
        return self._read_through_record(line)

    def _read_through_record(self, line: str | Overlong) -> str:
        was_open = self.open_quote
        still_open = was_open ^ _odd_quotes(line)
        while still_open and (following := next(self.lines, None)) is not None:
            self.hidden += 1
            still_open ^= _odd_quotes(following)
        self.open_quote = False
        return '"\n' if was_open else "\n"  # close the quoted field csv.reader is in; end the row

    def record_done(self) -> None:
        """The reader finished a record: the next line starts a new one."""
        self.record_bytes, self.open_quote, self.over = 0, False, False


def _odd_quotes(line: str | Overlong) -> bool:
    return line.odd_quotes if isinstance(line, Overlong) else line.count('"') % 2 == 1


STRUCTURE = re.compile(r'["\[\]{}]')
# The rest of a string's body: plain runs and escape pairs, consumed without backtracking.
STRING_BODY = re.compile(r'(?:[^"\\]++|\\.)*+', re.DOTALL)
SCALAR_END = re.compile(r"[,\]\s]")


class ValueSkipper:
    """Finds where a JSON value ends, chunk by chunk, holding nothing of it but its nesting depth."""

    def __init__(self, first: str) -> None:
        self.depth = 0
        self.in_string = False
        self.escape = False
        self.scalar = first not in '"[{'

    def feed(self, text: str, position: int) -> int | None:
        """The index in `text` just past the value's end, or None if it goes on after `text`."""
        while True:
            if self.in_string:
                found = self._string_end(text, position)
                if found is None or self.depth == 0:
                    return found
                position = found
            elif self.scalar:
                match = SCALAR_END.search(text, position)
                return match.start() if match else None
            else:
                match = STRUCTURE.search(text, position)
                if match is None:
                    return None
                position = match.end()
                if self._structure(match.group()):
                    return position

    def _structure(self, char: str) -> bool:
        """Track one structural character; whether it closed the value."""
        if char == '"':
            self.in_string = True
        elif char in "[{":
            self.depth += 1
        else:
            self.depth -= 1
        return self.depth == 0 and not self.in_string

    def _string_end(self, text: str, position: int) -> int | None:
        if self.escape:
            if position >= len(text):
                return None
            position, self.escape = position + 1, False
        match = STRING_BODY.match(text, position)
        position = match.end() if match else position
        if position >= len(text):
            return None
        if text[position] == "\\":  # an escape split by the chunk's end
            self.escape = True
            return None
        self.in_string = False
        return position + 1
