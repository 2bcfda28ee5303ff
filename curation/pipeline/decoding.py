"""Turn an uploaded byte stream into text, refusing what is not UTF-8 text."""

from __future__ import annotations

import codecs
import io
from typing import IO, Any

from curation.pipeline.errors import RowError, UnreadableFile

SNIFF_BYTES = 64 * 1024
BROKEN_LINE_SHARE = 0.05
FOREIGN_BOMS = {
    codecs.BOM_UTF32_LE: "UTF-32",
    codecs.BOM_UTF32_BE: "UTF-32",
    codecs.BOM_UTF16_LE: "UTF-16",
    codecs.BOM_UTF16_BE: "UTF-16",
}


def open_text(stream: IO[bytes]) -> tuple[io.TextIOWrapper, str]:
    """A text view of the stream (UTF-8, BOM dropped) and its first characters, for detection.

    Invalid bytes survive as lone surrogates (surrogateescape) so that they fail only the row
    that holds them (see check_text); a binary or non-UTF-8 file fails as a whole.
    """
    raw: Any = stream
    buffered = stream if isinstance(stream, io.BufferedReader) else io.BufferedReader(raw)
    head = buffered.peek(SNIFF_BYTES)[:SNIFF_BYTES]
    _refuse_foreign(head)
    text = io.TextIOWrapper(buffered, encoding="utf-8-sig", errors="surrogateescape", newline="")
    return text, head.decode("utf-8-sig", errors="replace")


def _refuse_foreign(head: bytes) -> None:
    for bom, name in FOREIGN_BOMS.items():
        if head.startswith(bom):
            raise UnreadableFile(f"The file is encoded as {name}; save it as UTF-8 and upload it again.")
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
