"""A row over the row limit (FINCH_MAX_ROW_BYTES) is a row error found while streaming, in every
reader, and it is never held whole: the memory a reader takes does not grow with the row
(issue 20, fault 6)."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from curation.pipeline import readers
from curation.pipeline.decoding import open_text
from curation.pipeline.errors import UnreadableFile
from curation.pipeline.formats import MappedItem, detect_format, mapped_rows
from curation.pipeline.mapping import FieldMapping, MappedRow

ROOT = Path(__file__).resolve().parents[2]
LIMIT = 100
TOO_LARGE = f"larger than {LIMIT} bytes"


def read(data: bytes, file_format: str = "auto", limit: int = LIMIT) -> list[tuple[int, str]]:
    """(line, input) of each good row and (line, error) of each bad one."""
    text, head = open_text(io.BytesIO(data))
    chosen = detect_format(head) if file_format == "auto" else file_format
    items: list[MappedItem] = list(mapped_rows(text, head, chosen, FieldMapping(), "generation", limit))
    return [(line, item.input if isinstance(item, MappedRow) else str(item)) for line, item in items]


def row(text: str) -> str:
    return json.dumps({"input": text, "output": "ok"}, ensure_ascii=False)


def test_given_a_line_over_the_limit_when_reading_jsonl_then_it_alone_is_a_row_error() -> None:
    data = "\n".join([row("first"), row("x" * 500), row("é" * 60), row("last")]) + "\n"

    items = read(data.encode())

    # the third line has fewer characters than the limit, but more bytes
    assert [line for line, _ in items] == [1, 2, 3, 4]
    assert items[0] == (1, "first") and items[3] == (4, "last")
    assert TOO_LARGE in items[1][1] and TOO_LARGE in items[2][1]


def test_given_a_file_that_is_one_overlong_line_when_reading_jsonl_then_it_is_a_row_error() -> None:
    assert read((row("x" * 500) + "\n").encode(), "jsonl") == [
        (1, "The row is larger than 100 bytes (FINCH_MAX_ROW_BYTES); it was skipped.")
    ]


def test_given_records_over_the_limit_when_reading_csv_then_they_alone_are_row_errors() -> None:
    long_cell = "x" * 300
    quoted_lines = "\n".join(['a ""quoted"" line ' + "y" * 20] * 10)  # 10 lines, over 100 bytes in all
    data = f'input,output\nfirst,ok\n{long_cell},ok\n"{quoted_lines}",ok\nlast,"ok"\n'

    items = read(data.encode())

    assert items == [
        (2, "first"),
        (3, "The row is larger than 100 bytes (FINCH_MAX_ROW_BYTES); it was skipped."),
        (4, "The row is larger than 100 bytes (FINCH_MAX_ROW_BYTES); it was skipped."),
        (14, "last"),
    ]


def test_given_a_csv_header_over_the_limit_when_reading_then_the_file_is_unreadable() -> None:
    with pytest.raises(UnreadableFile, match="header row is larger than 100 bytes"):
        read(("input," + "x" * 200 + "\nfirst,ok\n").encode(), "csv")


@pytest.mark.parametrize("chunk", [7, 64, 1 << 20], ids=["tiny-chunks", "small-chunks", "default-chunks"])
@pytest.mark.parametrize(
    "element",
    [
        pytest.param(row('x\\"y' * 100), id="string-with-escapes"),
        pytest.param(
            json.dumps({"input": "a", "output": "b", "m": {"deep": [[["z" * 50]] * 5]}}), id="nested"
        ),
        pytest.param("1" * 300, id="long-number"),
        pytest.param(json.dumps("s\\" * 100), id="string-of-backslashes"),
    ],
)
def test_given_an_element_over_the_limit_when_reading_a_json_array_then_it_alone_is_a_row_error(
    monkeypatch: pytest.MonkeyPatch, chunk: int, element: str
) -> None:
    monkeypatch.setattr(readers, "CHUNK_CHARS", chunk)
    data = "[" + ",\n".join([row("first"), element, row("after")]) + ",\n" + row("last") + "\n]"

    items = read(data.encode(), "json")

    assert items[0] == (1, "first")
    assert items[1][0] == 2 and TOO_LARGE in items[1][1]
    assert items[2:] == [(3, "after"), (4, "last")]


def test_given_an_overlong_element_that_never_ends_when_reading_then_the_file_is_truncated() -> None:
    with pytest.raises(UnreadableFile, match="truncated: the record at line 2 never ends"):
        read(("[" + row("a") + ",\n" + '{"input": "' + "x" * 500).encode(), "json")


# -- memory -------------------------------------------------------------------------------------

MEASURE = """
import sys
from curation.pipeline.decoding import open_text
from curation.pipeline.formats import detect_format, mapped_rows
from curation.pipeline.mapping import FieldMapping

def peak_kb():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])

before = peak_kb()
with open(sys.argv[1], "rb") as stream:
    text, head = open_text(stream)
    rows = mapped_rows(text, head, detect_format(head), FieldMapping(), "generation", 1 << 20)
    kinds = [type(item).__name__ for _, item in rows]
print(peak_kb() - before, ",".join(kinds))
"""
ROW_MB = 50


def write_long_row(path: Path, file_format: str) -> None:
    body = "x" * (ROW_MB * 1024 * 1024)
    if file_format == "csv":
        content = f"input,output\nfirst,ok\n{body},ok\nlast,ok\n"
    elif file_format == "json":
        content = f'[{row("first")},\n{{"input": "{body}", "output": "ok"}},\n{row("last")}]'
    else:
        content = f'{row("first")}\n{{"input": "{body}", "output": "ok"}}\n{row("last")}\n'
    path.write_text(content)


@pytest.mark.parametrize("file_format", ["jsonl", "json", "csv"])
def test_given_a_50_mb_row_when_reading_then_memory_grows_by_a_fraction_of_it(
    tmp_path: Path, file_format: str
) -> None:
    """In a fresh process, so that VmHWM (the peak resident memory) is the reader's alone."""
    path = tmp_path / f"rows.{file_format}"
    write_long_row(path, file_format)

    result = subprocess.run(
        [sys.executable, "-c", MEASURE, str(path)], cwd=ROOT, capture_output=True, text=True, timeout=120
    )

    assert result.returncode == 0, result.stderr[-2000:]
    growth_kb, kinds = result.stdout.split()
    assert kinds == "MappedRow,RowError,MappedRow"
    assert int(growth_kb) < 12 * 1024, (
        f"peak memory grew by {int(growth_kb) // 1024} MB for a {ROW_MB} MB row"
    )
