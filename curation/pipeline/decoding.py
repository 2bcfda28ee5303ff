"""Turn an uploaded byte stream into text, refusing what is not UTF-8 text."""

from __future__ import annotations

import codecs
import io
import itertools
import json
from typing import IO, Any, TextIO

from curation.pipeline.bounded import DEFAULT_MAX_ROW_BYTES, Overlong, ValueSkipper, bounded_lines
from curation.pipeline.errors import RowError, UnreadableFile
from curation.pipeline.readers import read_json_array

SNIFF_BYTES = 64 * 1024
BLANK = "\ufeff \t\r\n"
# Records detection looks at when the first is longer than the row limit: the first that fits.
DETECT_RECORDS = 2
HEAD_CHUNK_CHARS = 1 << 16
BROKEN_LINE_SHARE = 0.05
# Compressed files people upload as they keep them (their first bytes).
ARCHIVES = {
    b"\x1f\x8b": "gzip",
    b"PK\x03\x04": "zip",
    b"BZh": "bzip2",
    b"\xfd7zXZ\x00": "xz",
    b"(\xb5/\xfd": "zstd",
}
PARQUET_MAGIC = b"PAR1"  # curation.pipeline.parquet reads those
FOREIGN_BOMS = {
    codecs.BOM_UTF32_LE: "UTF-32",
    codecs.BOM_UTF32_BE: "UTF-32",
    codecs.BOM_UTF16_LE: "UTF-16",
    codecs.BOM_UTF16_BE: "UTF-16",
}


def open_text(stream: IO[bytes], max_row_bytes: int = DEFAULT_MAX_ROW_BYTES) -> tuple[io.TextIOWrapper, str]:
    """A text view of the stream (UTF-8, BOM dropped) and its first characters, for detection:
    of a JSON file, at least its first record that fits in `max_row_bytes` (see _json_head).

    Invalid bytes survive as lone surrogates (surrogateescape) so that they fail only the row
    that holds them (see check_text); a binary or non-UTF-8 file fails as a whole.
    """
    buffered = buffered_reader(stream)
    peeked = buffered.peek(SNIFF_BYTES)[:SNIFF_BYTES]
    _refuse_foreign(peeked)
    head = peeked.decode("utf-8-sig", errors="replace")
    if not _first_record_whole(head) and buffered.seekable():
        head = _json_head(buffered, max_row_bytes, array=head.lstrip(BLANK).startswith("["))
    text = io.TextIOWrapper(buffered, encoding="utf-8-sig", errors="surrogateescape", newline="")
    return text, head


def buffered_reader(stream: IO[bytes]) -> io.BufferedReader:
    """The stream as a reader that can peek at its first bytes without taking them."""
    raw: Any = stream
    return stream if isinstance(stream, io.BufferedReader) else io.BufferedReader(raw)


def _first_record_whole(head: str) -> bool:
    """Whether the head holds the whole first record of a JSON file (JSON Lines: its first line;
    a JSON array: its first element); true for other files, whose head is enough as it is."""
    stripped = head.lstrip(BLANK)
    if stripped.startswith("{"):
        return "\n" in stripped or "\r" in stripped
    if stripped.startswith("["):
        element = stripped[1:].lstrip(BLANK)
        return element != "" and ValueSkipper(element[0]).feed(element, 0) is not None
    return True


def _json_head(buffered: io.BufferedReader, max_row_bytes: int, *, array: bool) -> str:
    """The head of a JSON file whose first record runs past the peek: read on to that record's
    end, then go back to where the stream stood, for the readers.

    A record longer than the row limit is not held: it is read through, and the head holds in its
    place only its opening character, then the next record (which detection goes by)."""
    start = buffered.tell()
    text = io.TextIOWrapper(buffered, encoding="utf-8-sig", errors="replace", newline="")
    try:
        return _array_head(text, max_row_bytes) if array else _lines_head(text, max_row_bytes)
    finally:
        text.detach()
        buffered.seek(start)


def _lines_head(text: TextIO, limit: int) -> str:
    """The lines through the first record's, and a piece of the next one (a JSON object that goes
    on over several lines is told apart by it); a record over the limit stands as '{'."""
    head: list[str] = []
    overlong = 0
    for line in bounded_lines(text, limit):
        if isinstance(line, Overlong):
            overlong += 1
            head.append("{\n")
            if overlong == DETECT_RECORDS:
                break
            continue
        head.append(line)
        if line.strip():
            if not overlong:
                head.append(text.readline(HEAD_CHUNK_CHARS))
            break
    return "".join(head)


def _array_head(text: TextIO, limit: int) -> str:
    """'[' and the first record of the first DETECT_RECORDS that the array reader reads as a
    record (one over the limit is read through, not held; one that is a row error, such as a
    repeated key, tells nothing of the format); '[' alone where none does, or where the array
    breaks off."""
    try:
        for _, item in itertools.islice(read_json_array(text, limit), DETECT_RECORDS):
            if isinstance(item, RowError):
                continue  # the next record decides
            return "[" + json.dumps(item) if isinstance(item, dict) else "["
    except UnreadableFile:
        pass
    return "["


def _refuse_foreign(head: bytes) -> None:
    for bom, name in FOREIGN_BOMS.items():
        if head.startswith(bom):
            raise UnreadableFile(f"The file is encoded as {name}; save it as UTF-8 and upload it again.")
    for magic, name in ARCHIVES.items():
        if head.startswith(magic):
            raise UnreadableFile(f"The file is a {name} archive; upload the file inside it, uncompressed.")
    if head.startswith(PARQUET_MAGIC):  # only a format named other than parquet comes here
        raise UnreadableFile("The file is Parquet, not text: import it with the format parquet (or auto).")
    if b"\x00" in head:
        raise UnreadableFile("The file is binary, not text (it contains NUL bytes).")
    if not head.strip():
        raise UnreadableFile("The file is empty.")
    lines = head.decode("utf-8", errors="replace").splitlines()[:-1] or [
        head.decode("utf-8", errors="replace")
    ]
    broken = sum("\ufffd" in line for line in lines)
    # One bad row is that row's problem; many mean the whole file is in another encoding.
    if broken >= 2 and broken >= len(lines) * BROKEN_LINE_SHARE:
        raise UnreadableFile(
            f"The file is not UTF-8 text ({broken} of its first {len(lines)} lines are not); "
            "save it as UTF-8 and upload it again."
        )


def check_text(value: str) -> str:
    """Refuse a string that carries bytes which were not valid UTF-8."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise RowError("The row is not valid UTF-8.") from exc
    return value
