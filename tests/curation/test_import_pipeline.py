"""The import pipeline without a database: decoding, format detection, readers and field mapping.

Each test feeds bytes as an upload would arrive and looks at what comes out: (line, MappedRow)
for a good record, (line, RowError) for a bad one, or UnreadableFile for a file that cannot be
read at all.
"""

from __future__ import annotations

import gzip
import io
import itertools
import json
import re
import threading
import zipfile
from collections.abc import Generator, Iterator
from typing import Any

import pytest

from curation.pipeline import readers
from curation.pipeline.background import in_background
from curation.pipeline.decoding import open_text
from curation.pipeline.errors import RowError, UnreadableFile
from curation.pipeline.formats import MappedItem, detect_format, mapped_rows
from curation.pipeline.mapping import FieldMapping, MappedRow

GENERATION = "generation"
CHAT = "chat"
BOM = b"\xef\xbb\xbf"


def read(
    data: bytes,
    file_format: str = "auto",
    *,
    mapping: FieldMapping | None = None,
    task_type: str = GENERATION,
) -> list[MappedItem]:
    """Everything the pipeline yields for the file, as the import service drives it."""
    text, head = open_text(io.BytesIO(data))
    chosen = detect_format(head) if file_format == "auto" else file_format
    return list(mapped_rows(text, head, chosen, mapping or FieldMapping(), task_type))


def good(items: list[MappedItem]) -> list[tuple[int, MappedRow]]:
    return [(line, item) for line, item in items if isinstance(item, MappedRow)]


def pairs(items: list[MappedItem]) -> list[tuple[int, Any, Any]]:
    """(line, input, output) of every good record."""
    return [(line, row.input, row.output) for line, row in good(items)]


def errors(items: list[MappedItem]) -> list[tuple[int, str]]:
    return [(line, str(item)) for line, item in items if isinstance(item, RowError)]


def jsonl(*records: dict[str, Any]) -> bytes:
    return "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records).encode()


def detected(data: bytes) -> str:
    _, head = open_text(io.BytesIO(data))
    return detect_format(head)


# --- Format detection -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        pytest.param(b'{"input": "a", "output": "b"}\n', "jsonl", id="jsonl"),
        pytest.param(b'\n  {"text": "a", "label": "b"}\n', "jsonl", id="jsonl-leading-space"),
        pytest.param(BOM + b'{"input": "a"}\n', "jsonl", id="jsonl-bom"),
        pytest.param(
            b'{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}\n',
            "openai_chat",
            id="openai-chat",
        ),
        pytest.param(b'{"instruction": "Sum", "input": "1 2", "output": "3"}\n', "alpaca", id="alpaca-jsonl"),
        pytest.param(b'[{"instruction": "Sum", "output": "3"}]', "alpaca", id="alpaca-array"),
        pytest.param(b'[\n  {"input": "a", "output": "b"}\n]\n', "json", id="json-array"),
        pytest.param(BOM + b'[{"prompt": "a", "completion": "b"}]', "json", id="json-array-bom"),
        pytest.param(b"input,output\na,b\n", "csv", id="csv"),
        pytest.param(b"text;label\na;b\n", "csv", id="csv-semicolon"),
    ],
)
def test_given_the_start_of_a_file_when_detecting_then_the_format_is_recognised(
    data: bytes, expected: str
) -> None:
    assert detected(data) == expected


def test_given_auto_detection_when_reading_then_each_format_is_read_with_its_own_reader() -> None:
    chat = b'{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}\n'
    alpaca = b'[{"instruction": "Add", "input": "1 and 2", "output": "3"}]'

    assert pairs(read(chat)) == [(1, "hi", "hello")]
    assert pairs(read(alpaca)) == [(1, "Add\n\n1 and 2", "3")]
    assert pairs(read(b"text|label\nhi|greeting\n")) == [(2, "hi", "greeting")]


BIG = "x" * 100_000  # a first record longer than the head the file's first read gives
ALPACA = [{"instruction": "Say it.", "input": BIG, "output": "ok"}, {"instruction": "Add.", "output": "3"}]
CHAT_RECORD = {"messages": [{"role": "user", "content": BIG}, {"role": "assistant", "content": "yo"}]}


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        pytest.param(jsonl(*ALPACA), "alpaca", id="alpaca-jsonl"),
        pytest.param(json.dumps(ALPACA).encode(), "alpaca", id="alpaca-array"),
        pytest.param(json.dumps(ALPACA, indent=2).encode(), "alpaca", id="alpaca-array-pretty"),
        pytest.param(jsonl(CHAT_RECORD, CHAT_RECORD), "openai_chat", id="openai-chat"),
        pytest.param(jsonl({"input": BIG, "output": "b"}), "jsonl", id="jsonl"),
    ],
)
def test_given_a_first_record_longer_than_the_first_read_when_detecting_then_all_of_it_is_seen(
    data: bytes, expected: str
) -> None:
    assert detected(data) == expected
    items = read(data)
    assert errors(items) == []
    assert good(items)[0][1].input in (f"Say it.\n\n{BIG}", BIG)


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(jsonl(*ALPACA), id="jsonl"),
        pytest.param(json.dumps(ALPACA, indent=2).encode(), id="array"),
    ],
)
def test_given_a_first_record_over_the_row_limit_when_detecting_then_the_next_record_decides(
    data: bytes,
) -> None:
    text, head = open_text(io.BytesIO(data), max_row_bytes=1000)

    assert detect_format(head) == "alpaca"
    items = list(mapped_rows(text, head, "alpaca", FieldMapping(), GENERATION, 1000))
    assert [(line, "larger than 1,000 bytes" in str(item)) for line, item in errors(items)] == [
        (items[0][0], True)
    ]
    assert [(row.input, row.output) for _, row in good(items)] == [("Add.", "3")]


def test_given_a_stream_that_cannot_seek_when_opening_then_the_head_is_what_the_first_read_gave() -> None:
    class OneWay(io.BytesIO):
        def seekable(self) -> bool:
            return False

    text, head = open_text(OneWay(jsonl(*ALPACA)))

    assert len(head) < len(BIG) and text.readline().startswith('{"instruction"')


WRAPPED = (
    '{"data": [\n'
    + ",\n".join(json.dumps({"input": f"q{n}", "output": f"a{n}"}) for n in range(3))
    + "\n]}\n"
).encode()


@pytest.mark.parametrize(
    ("data", "file_format"),
    [
        pytest.param(WRAPPED, "auto", id="wrapper"),
        pytest.param(WRAPPED, "jsonl", id="wrapper-as-jsonl"),
        pytest.param(b'{"meta": {"n": 1},\n "rows": [\n' + b"{}, " * 30_000 + b"{}]}", "auto", id="long"),
        pytest.param(
            json.dumps({"input": "a", "output": "b"}, indent=2).encode(), "auto", id="pretty-record"
        ),
    ],
)
def test_given_one_json_object_over_several_lines_when_reading_then_the_file_is_unreadable(
    data: bytes, file_format: str
) -> None:
    with pytest.raises(UnreadableFile, match=r"one JSON object over several lines.*JSON list"):
        read(data, file_format)


def test_given_a_broken_first_line_when_reading_jsonl_then_it_alone_is_a_row_error() -> None:
    data = b'{"input": "q1", "out\n{"instruction": "Add.", "output": "3"}\n'

    items = read(data)

    assert detected(data) == "alpaca"
    assert [line for line, _ in errors(items)] == [1]
    assert pairs(items) == [(2, "Add.", "3")]


# --- JSON Lines --------------------------------------------------------------------------------


def test_given_jsonl_when_reading_then_rows_carry_their_physical_line_and_extra_keys_become_metadata() -> (
    None
):
    data = (
        b'{"input": "Where is my card?", "output": "card_arrival", "lang": "en", "score": 0.5}\n'
        b"\n"
        b'{"input": "Rate?", "output": "exchange_rate", "metadata": {"batch": 7}, "lang": "fr"}\n'
    )

    items = read(data)

    assert errors(items) == []
    assert good(items) == [
        (1, MappedRow("Where is my card?", "card_arrival", {"lang": "en", "score": 0.5}, None)),
        (3, MappedRow("Rate?", "exchange_rate", {"batch": 7, "lang": "fr"}, None)),
    ]


def test_given_bad_jsonl_lines_when_reading_then_each_is_a_row_error_and_the_others_are_read() -> None:
    data = b'{"input": "a", "output": "b"}\n{"input": "c", oops}\n[1, 2]\n"text"\n{"input": "d", "output": "e"}\n'

    items = read(data)

    assert pairs(items) == [(1, "a", "b"), (5, "d", "e")]
    assert [line for line, _ in errors(items)] == [2, 3, 4]
    assert "Not valid JSON" in errors(items)[0][1]
    assert "Expected a JSON object, found list" in errors(items)[1][1]
    assert "Expected a JSON object, found str" in errors(items)[2][1]


@pytest.mark.parametrize(
    ("line", "column"),
    [
        pytest.param(b'{"input": "c", oops}', 16, id="inside"),
        pytest.param(b'{"input": "c", "output": "d"', 28, id="cut-short"),
        pytest.param(b'{"input": "c",', 14, id="cut-after-a-comma"),
    ],
)
@pytest.mark.parametrize("ending", [b"\n", b"\r\n", b""], ids=["lf", "crlf", "last-line"])
def test_given_a_malformed_jsonl_line_when_reading_then_its_error_column_is_on_the_line(
    line: bytes, column: int, ending: bytes
) -> None:
    items = read(jsonl({"input": "a", "output": "b"}) + line + ending, "jsonl")

    assert errors(items) == [(2, f"Not valid JSON: {_json_error(line)} (column {column}).")]
    assert column <= len(line)


def _json_error(line: bytes) -> str:
    try:
        json.loads(line)
    except json.JSONDecodeError as exc:
        return exc.msg
    raise AssertionError(f"{line!r} is valid JSON")


def test_given_jsonl_without_any_object_when_reading_then_the_file_is_unreadable() -> None:
    with pytest.raises(UnreadableFile, match="JSON Lines"):
        read(b"not json at all\nnor this\n", "jsonl")


def test_given_ids_when_reading_then_external_id_comes_from_external_id_or_id() -> None:
    data = jsonl(
        {"input": "a", "output": "b", "external_id": " ext-1 "},
        {"input": "c", "output": "d", "id": 42},
        {"input": "e", "output": "f", "external_id": "ext-3", "id": 99},
        {"input": "g", "output": "h", "external_id": ""},
        {"input": "i", "output": "j", "external_id": None, "id": 7},
    )

    rows = [row for _, row in good(read(data))]

    # Finch's own export writes "id" (the old project's number) beside an empty "external_id":
    # the example had none, so it is identified by its content in the new project too.
    assert [row.external_id for row in rows] == ["ext-1", "42", "ext-3", None, None]
    assert all("id" not in row.metadata and "external_id" not in row.metadata for row in rows)


@pytest.mark.parametrize(
    ("record", "message"),
    [
        pytest.param(
            {"input": "a", "output": "b", "metadata": [1]}, "metadata must be a JSON object", id="meta"
        ),
        pytest.param({"input": "a", "output": "b", "external_id": {"x": 1}}, "external_id", id="ext-id"),
        pytest.param({"input": "a", "output": "b", "id": True}, "id must be", id="bool-id"),
        pytest.param({"body": "a", "output": "b"}, "No input field", id="no-input"),
    ],
)
def test_given_a_record_with_a_bad_field_when_mapping_then_it_is_a_row_error(
    record: dict[str, Any], message: str
) -> None:
    items = read(jsonl({"input": "fine", "output": "ok"}, record))

    assert pairs(items) == [(1, "fine", "ok")]
    assert len(errors(items)) == 1
    assert errors(items)[0][0] == 2
    assert message in errors(items)[0][1]


def test_given_scalar_outputs_when_mapping_then_they_become_text() -> None:
    data = jsonl(
        {"input": "a", "output": 3},
        {"input": "b", "output": 2.5},
        {"input": "c", "output": True},
        {"input": "d", "output": None},
        {"input": "e"},
    )

    assert pairs(read(data)) == [(1, "a", "3"), (2, "b", "2.5"), (3, "c", "true"), (4, "d", ""), (5, "e", "")]


# --- Field mapping and aliases ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("input_key", "output_key"),
    [
        ("input", "output"),
        ("text", "label"),
        ("prompt", "completion"),
        ("question", "answer"),
        ("query", "response"),
        ("text", "category"),
        ("text", "target"),
        ("text", "intent"),
        ("Text", "Label"),
        ("PROMPT", "Completion"),
    ],
)
def test_given_usual_alias_names_when_mapping_then_input_and_output_are_found(
    input_key: str, output_key: str
) -> None:
    record = {"source_file": "x.txt", input_key: "the input", output_key: "the output"}

    [(_, row)] = good(read(jsonl(record)))

    assert (row.input, row.output, row.metadata) == ("the input", "the output", {"source_file": "x.txt"})


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_given_aliases_in_a_csv_header_when_mapping_then_they_are_found(delimiter: str) -> None:
    data = (
        delimiter.join(["id", "prompt", "completion", "lang"]) + "\n" + delimiter.join(["7", "p", "c", "en"])
    )

    [(line, row)] = good(read(data.encode() + b"\n"))

    assert (line, row) == (2, MappedRow("p", "c", {"lang": "en"}, "7"))


def test_given_both_output_and_label_when_mapping_then_output_wins_and_label_is_metadata() -> None:
    [(_, row)] = good(read(jsonl({"text": "t", "input": "i", "output": "o", "label": "l"})))

    assert (row.input, row.output, row.metadata) == ("i", "o", {"text": "t", "label": "l"})


def test_given_input_and_output_fields_when_mapping_then_the_named_keys_are_used_and_aliases_kept_as_metadata() -> (
    None
):
    record = {"body": "Where is my card?", "topic": "card_arrival", "text": "ignored alias", "label": "x"}

    [(_, row)] = good(read(jsonl(record), mapping=FieldMapping("body", "topic")))

    assert row == MappedRow(
        "Where is my card?", "card_arrival", {"text": "ignored alias", "label": "x"}, None
    )


def test_given_an_input_field_missing_from_a_record_when_mapping_then_that_record_is_a_row_error() -> None:
    data = jsonl({"body": "a", "topic": "b"}, {"text": "no body here", "topic": "c"})

    items = read(data, mapping=FieldMapping("body", "topic"))

    assert pairs(items) == [(1, "a", "b")]
    assert errors(items) == [(2, "No input field (body) in the record; its keys: text, topic.")]


@pytest.mark.parametrize(
    ("data", "landed", "failed_line"),
    [
        pytest.param(
            jsonl({"text": "a", "label": "b"}, {"text": "c", "lable": "d"}), [(2, "c", "d")], 1, id="jsonl"
        ),
        pytest.param(b"text,label\na,b\n", [], 2, id="csv"),
    ],
)
def test_given_an_output_field_missing_from_a_record_when_mapping_then_that_record_is_a_row_error(
    data: bytes, landed: list[tuple[int, str, str]], failed_line: int
) -> None:
    items = read(data, mapping=FieldMapping(output_field="lable"))

    assert pairs(items) == landed
    assert errors(items) == [(failed_line, "No output field (lable) in the record; its keys: text, label.")]


def test_given_no_output_field_named_and_none_in_the_record_when_mapping_then_the_output_is_empty() -> None:
    items = read(jsonl({"body": "a"}), mapping=FieldMapping(input_field="body"))

    assert (errors(items), pairs(items)) == ([], [(1, "a", "")])


def test_given_only_an_input_field_when_mapping_then_the_output_is_still_found_by_alias() -> None:
    [(_, row)] = good(read(jsonl({"body": "a", "label": "b"}), mapping=FieldMapping(input_field="body")))

    assert (row.input, row.output) == ("a", "b")


# --- CSV ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"], ids=["comma", "semicolon", "tab", "pipe"])
def test_given_any_usual_delimiter_when_reading_csv_then_columns_are_split_on_it(delimiter: str) -> None:
    others = "".join(sorted(set(",;\t|") - {delimiter}))  # the other delimiters stay inside values
    lines = [
        ["input", "output", "note"],
        [f"Where{others}is my card", "card_arrival", "n1"],
        ["What rate", "exchange_rate", f"n2{others}"],
    ]
    data = "".join(delimiter.join(line) + "\n" for line in lines).encode()

    items = read(data)

    assert errors(items) == []
    assert good(items) == [
        (2, MappedRow(f"Where{others}is my card", "card_arrival", {"note": "n1"}, None)),
        (3, MappedRow("What rate", "exchange_rate", {"note": f"n2{others}"}, None)),
    ]


def test_given_quoted_multiline_fields_and_doubled_quotes_when_reading_csv_then_values_are_exact() -> None:
    data = (
        b"input,output\n"
        b'"first line\nsecond line","she said ""hi"", then left"\n'
        b'"a, b",plain\n'
        b'"three\n\nlines",x\n'
        b"after,y\n"
    )

    items = read(data)

    assert errors(items) == []
    assert pairs(items) == [
        (2, "first line\nsecond line", 'she said "hi", then left'),
        (4, "a, b", "plain"),
        (5, "three\n\nlines", "x"),
        (8, "after", "y"),
    ]


def test_given_crlf_line_endings_when_reading_csv_then_values_hold_no_carriage_returns() -> None:
    data = b'input,output\r\nhello,world\r\n"multi\r\nline",z\r\n'

    assert pairs(read(data)) == [(2, "hello", "world"), (3, "multi\r\nline", "z")]


def test_given_rows_with_the_wrong_column_count_when_reading_csv_then_each_is_a_row_error() -> None:
    data = b"input,output\na,b\nonly-one\nc,d,extra\n\ne,f\n"

    items = read(data)

    assert pairs(items) == [(2, "a", "b"), (6, "e", "f")]
    assert errors(items) == [(3, "Expected 2 columns, found 1."), (4, "Expected 2 columns, found 3.")]


@pytest.mark.parametrize(
    ("header", "named"),
    [
        pytest.param(b"input,output,output", "'output' (columns 2, 3)", id="output-twice"),
        pytest.param(b"input, output ,output,x,x", "'output' (columns 2, 3); 'x' (columns 4, 5)", id="two"),
        pytest.param(b"input,output,,", "an empty name (columns 3, 4)", id="unnamed"),
    ],
)
def test_given_a_csv_header_that_repeats_a_name_when_reading_then_the_file_is_unreadable_naming_it(
    header: bytes, named: str
) -> None:
    row = b",".join([b"q1", b"a1", b"b1", b"c1", b"d1"][: header.count(b",") + 1])

    with pytest.raises(UnreadableFile, match="same name: " + re.escape(named) + r"\. Each column"):
        read(header + b"\n" + row + b"\n")


def test_given_a_csv_with_only_a_header_when_reading_then_there_are_no_rows() -> None:
    assert read(b"input,output\n", "csv") == []


def test_given_a_field_over_the_size_limit_mid_file_when_reading_csv_then_the_file_is_unreadable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(readers, "MAX_CSV_FIELD", 100)
    data = b"input,output\na,b\nc,d\n" + b"e," + b"x" * 101 + b"\nf,g\n"

    with pytest.raises(UnreadableFile, match="CSV file is malformed near line 4"):
        read(data, "csv")


def test_given_a_nul_byte_in_a_csv_field_when_reading_then_the_row_still_comes_out_for_validation() -> None:
    """Past the head a NUL is one bad value, not a binary file; validation refuses that row."""
    valid = b"".join(b"row %d,out %d\n" % (n, n) for n in range(8000))
    assert len(valid) > 64 * 1024

    items = read(b"input,output\n" + valid + b"bad\x00row,x\nlast,y\n")

    assert errors(items) == []
    assert pairs(items)[-2:] == [(8002, "bad\x00row", "x"), (8003, "last", "y")]


def test_given_an_unterminated_quote_mid_file_when_reading_csv_then_the_file_is_unreadable() -> None:
    """The quote swallows every later line into one field: the rest of the file cannot be read."""
    data = b'input,output\na,b\n"never closed,c\nd,e\nf,g\n'

    with pytest.raises(UnreadableFile, match="malformed"):
        read(data, "csv")


# --- JSON arrays ------------------------------------------------------------------------------


PRETTY_RECORDS = [
    {"input": 'Escaped "quotes", a back\\slash and ünïcödé', "output": "first", "n": 12345678901234},
    {"input": "second", "output": "2", "tags": ["a", {"nested": [1, 2.5, None, True]}]},
    {"input": "third\nwith a newline", "output": "3", "metadata": {"k": "v"}},
]


def test_given_a_pretty_printed_json_array_when_reading_then_each_record_has_the_line_it_starts_on() -> None:
    data = json.dumps(PRETTY_RECORDS, indent=2, ensure_ascii=False).encode()

    items = read(data)

    assert detected(data) == "json"
    assert errors(items) == []
    assert [line for line, _ in items] == [2, 7, 22]
    assert good(items)[1][1].metadata == {"tags": ["a", {"nested": [1, 2.5, None, True]}]}
    assert good(items)[2][1] == MappedRow("third\nwith a newline", "3", {"k": "v"}, None)


def test_given_non_objects_in_a_json_array_when_reading_then_each_is_a_row_error() -> None:
    data = b'[\n{"input": "a", "output": "b"},\n7,\n"text",\n[1],\n{"input": "c", "output": "d"}\n]'

    items = read(data)

    assert pairs(items) == [(2, "a", "b"), (6, "c", "d")]
    assert [line for line, _ in errors(items)] == [3, 4, 5]
    assert "found int" in errors(items)[0][1]


@pytest.mark.parametrize("indent", [None, 2], ids=["one-line", "pretty"])
def test_given_a_json_array_split_across_chunks_when_reading_then_records_are_the_same(
    monkeypatch: pytest.MonkeyPatch, indent: int | None
) -> None:
    records: list[Any] = [*PRETTY_RECORDS, 3.14159265358979, {"input": "x" * 40, "output": "y"}, 1234567]
    data = json.dumps(records, indent=indent, ensure_ascii=False).encode()
    whole = read(data)

    monkeypatch.setattr(readers, "CHUNK_CHARS", 7)
    chunked = read(data)

    assert [(line, str(item)) if isinstance(item, RowError) else (line, item) for line, item in chunked] == [
        (line, str(item)) if isinstance(item, RowError) else (line, item) for line, item in whole
    ]
    assert len(good(chunked)) == 4
    assert [message for _, message in errors(chunked)] == [
        "Expected a JSON object, found float.",
        "Expected a JSON object, found int.",
    ]


def test_given_a_number_split_by_the_chunk_boundary_when_reading_then_it_is_decoded_whole(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(readers, "CHUNK_CHARS", 7)

    items = read(b'[123456789012, {"input": "a", "output": "b"}]', "json")

    assert errors(items) == [(1, "Expected a JSON object, found int.")]
    assert pairs(items) == [(1, "a", "b")]


@pytest.mark.parametrize("chunk", [7, 1 << 20], ids=["tiny-chunks", "default-chunks"])
@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b'[{"input": "a", "output": "b"},\n{"input": "c", "outp', id="inside-a-key"),
        pytest.param(
            b'[{"input": "a", "output": "b"},\n{"input": "c", "output": "d"}', id="no-closing-bracket"
        ),
        pytest.param(b'[{"input": "a", "output": "b"},', id="after-a-comma"),
        pytest.param(b'[{"input": "a", "output": "b"},\n{"input": "c", "output": "d', id="inside-a-string"),
        pytest.param(b'[{"input": "a", "output": "b"},\n{"input": "c", "output": {"x": [1, 2', id="nested"),
        pytest.param(b"[", id="just-a-bracket"),
    ],
)
def test_given_a_truncated_json_array_when_reading_then_the_file_is_unreadable(
    monkeypatch: pytest.MonkeyPatch, data: bytes, chunk: int
) -> None:
    monkeypatch.setattr(readers, "CHUNK_CHARS", chunk)

    with pytest.raises(UnreadableFile, match="truncated"):
        read(data, "json")


@pytest.mark.parametrize(
    ("data", "line"),
    [
        pytest.param(
            b'[{"input": "a", "output": "b"}\n{"input": "c", "output": "d"}]', 2, id="missing-comma"
        ),
        pytest.param(b'[{"input": "a", "output": "b"},\n\n{"input": x}]', 3, id="bad-value"),
        pytest.param(b'[{"input": "a", "output": "b"},,{"input": "c"}]', 1, id="double-comma"),
        pytest.param(b'[{"input": "a" "output": "b"}]', 1, id="missing-colon-pair-comma"),
        pytest.param(b'[{"input": "a", "output": "b"};{"input": "c"}]', 1, id="semicolon"),
    ],
)
def test_given_a_malformed_json_array_when_reading_then_the_file_is_unreadable_at_the_line(
    monkeypatch: pytest.MonkeyPatch, data: bytes, line: int
) -> None:
    for chunk in (7, 1 << 20):
        monkeypatch.setattr(readers, "CHUNK_CHARS", chunk)
        with pytest.raises(UnreadableFile, match=f"malformed at line {line}"):
            read(data, "json")


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b'[{"input": "a", "output": "b"}]\n[{"input": "c", "output": "d"}]\n', id="two-arrays"),
        pytest.param(b'[{"input": "a", "output": "b"}] trailing words', id="trailing-words"),
    ],
)
def test_given_data_after_the_closing_bracket_when_reading_a_json_array_then_the_file_is_unreadable(
    data: bytes,
) -> None:
    """Not one JSON document: reading only the first part would silently drop the rest."""
    with pytest.raises(UnreadableFile):
        read(data, "json")


def test_given_a_jsonl_file_read_as_json_when_reading_then_the_file_is_unreadable() -> None:
    with pytest.raises(UnreadableFile, match="does not start with a JSON array"):
        read(b'{"input": "a"}\n{"input": "b"}\n', "json")


def test_given_a_truncated_json_array_when_reading_then_the_records_before_the_damage_came_first() -> None:
    """The reader streams; the service must not land them (see test_imports.py)."""
    data = b'[{"input": "a", "output": "b"},\n{"input": "c", "output": "d"},\n{"input": "e"'
    text, head = open_text(io.BytesIO(data))
    seen: list[MappedItem] = []

    with pytest.raises(UnreadableFile, match="truncated: the record at line 3"):
        for item in mapped_rows(text, head, "json", FieldMapping(), GENERATION):
            seen.append(item)

    assert pairs(seen) == [(1, "a", "b"), (2, "c", "d")]


# --- OpenAI chat ------------------------------------------------------------------------------


def chat_record(*messages: tuple[str, str], **extra: Any) -> dict[str, Any]:
    return {"messages": [{"role": role, "content": content} for role, content in messages], **extra}


def test_given_openai_chat_rows_for_a_chat_project_when_mapping_then_the_context_is_the_input() -> None:
    record = chat_record(
        ("system", "Be brief."),
        ("user", "Hi"),
        ("assistant", "Hello."),
        ("user", "Where is my card?"),
        ("assistant", "On its way."),
        id="conv-1",
        topic="cards",
    )

    [(line, row)] = good(read(jsonl(record), task_type=CHAT))

    assert line == 1
    assert row == MappedRow(
        input=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello."},
            {"role": "user", "content": "Where is my card?"},
        ],
        output="On its way.",
        metadata={"topic": "cards"},
        external_id="conv-1",
    )


def test_given_openai_chat_rows_for_a_non_chat_project_when_mapping_then_the_user_message_is_the_input() -> (
    None
):
    data = jsonl(
        chat_record(("system", "Classify."), ("user", "Where is my card?"), ("assistant", "card_arrival")),
        chat_record(("user", "Rate?"), ("assistant", "exchange_rate"), metadata={"k": 1}),
    )

    items = read(data, task_type="classification")

    assert good(items) == [
        (1, MappedRow("Where is my card?", "card_arrival", {"system": "Classify."}, None)),
        (2, MappedRow("Rate?", "exchange_rate", {"k": 1}, None)),
    ]


@pytest.mark.parametrize(
    ("record", "message"),
    [
        pytest.param({"messages": []}, "non-empty messages list", id="empty"),
        pytest.param({"messages": "hello"}, "non-empty messages list", id="not-a-list"),
        pytest.param({"messages": ["hello"]}, "Each message must be an object", id="not-objects"),
        pytest.param(
            chat_record(("user", "hi"), ("user", "again")),
            "last message must be the assistant",
            id="no-reply",
        ),
        pytest.param(
            chat_record(("user", "a"), ("assistant", "b"), ("user", "c"), ("assistant", "d")),
            "exactly one user message",
            id="multi-turn",
        ),
        pytest.param(
            chat_record(("system", "s"), ("assistant", "b")), "exactly one user message", id="no-user"
        ),
    ],
)
def test_given_bad_openai_chat_rows_for_a_non_chat_project_when_mapping_then_each_is_a_row_error(
    record: dict[str, Any], message: str
) -> None:
    items = read(jsonl(chat_record(("user", "ok"), ("assistant", "fine")), record), "openai_chat")

    assert pairs(items) == [(1, "ok", "fine")]
    assert len(errors(items)) == 1
    assert errors(items)[0][0] == 2
    assert message in errors(items)[0][1]


def test_given_a_multi_turn_openai_chat_row_when_the_project_is_chat_then_it_is_accepted() -> None:
    record = chat_record(("user", "a"), ("assistant", "b"), ("user", "c"), ("assistant", "d"))

    [(_, row)] = good(read(jsonl(record), "openai_chat", task_type=CHAT))

    assert row.output == "d"
    assert [message["content"] for message in row.input] == ["a", "b", "c"]


# --- Alpaca ---------------------------------------------------------------------------------------


def test_given_alpaca_records_when_mapping_then_instruction_and_input_make_the_input() -> None:
    records = [
        {"instruction": "Translate to French.", "input": "Good morning", "output": "Bonjour", "lang": "fr"},
        {"instruction": "Name a colour.", "input": "", "output": "Blue"},
        {"instruction": "Name a fruit.", "output": "Apple", "id": "f-1"},
        {"instruction": "Summarise.", "input": "   ", "output": "Nothing"},
    ]

    for data in (json.dumps(records).encode(), jsonl(*records)):
        items = read(data)
        assert errors(items) == []
        assert [row for _, row in good(items)] == [
            MappedRow("Translate to French.\n\nGood morning", "Bonjour", {"lang": "fr"}, None),
            MappedRow("Name a colour.", "Blue", {}, None),
            MappedRow("Name a fruit.", "Apple", {}, "f-1"),
            MappedRow("Summarise.", "Nothing", {}, None),
        ]


@pytest.mark.parametrize(
    ("record", "message"),
    [
        pytest.param({"input": "x", "output": "y"}, "non-empty instruction", id="no-instruction"),
        pytest.param({"instruction": "  ", "output": "y"}, "non-empty instruction", id="blank-instruction"),
        pytest.param({"instruction": 5, "output": "y"}, "non-empty instruction", id="number-instruction"),
        pytest.param(
            {"instruction": "i", "input": ["x"], "output": "y"}, "input must be a string", id="list-input"
        ),
    ],
)
def test_given_bad_alpaca_records_when_mapping_then_each_is_a_row_error(
    record: dict[str, Any], message: str
) -> None:
    items = read(jsonl({"instruction": "ok", "output": "fine"}, record), "alpaca")

    assert pairs(items) == [(1, "ok", "fine")]
    assert [line for line, _ in errors(items)] == [2]
    assert message in errors(items)[0][1]


# --- Decoding ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(BOM + b"input,output\nhello,world\n", id="csv"),
        pytest.param(BOM + b'{"input": "hello", "output": "world"}\n', id="jsonl"),
        pytest.param(BOM + b'[{"input": "hello", "output": "world"}]', id="json"),
    ],
)
def test_given_a_utf8_bom_when_reading_then_it_is_dropped(data: bytes) -> None:
    items = read(data)

    assert [(row.input, row.output, row.metadata) for _, row in good(items)] == [("hello", "world", {})]


def test_given_the_bom_when_opening_then_the_head_does_not_start_with_it() -> None:
    _, head = open_text(io.BytesIO(BOM + b"input,output\n"))

    assert head == "input,output\n"


def test_given_non_ascii_utf8_when_reading_then_it_is_kept_exactly() -> None:
    data = "input,output\nZürich café 東京 🙂,naïve\n".encode()

    assert pairs(read(data)) == [(2, "Zürich café 東京 🙂", "naïve")]


@pytest.mark.parametrize(
    ("data", "bad_line", "good_lines"),
    [
        pytest.param(
            b'{"input": "ok", "output": "a"}\n{"input": "bad \xff\xfe bytes", "output": "b"}\n{"input": "fine", "output": "c"}\n',
            2,
            [1, 3],
            id="jsonl-input",
        ),
        pytest.param(
            b'{"input": "ok", "output": "a"}\n{"input": "x", "output": "caf\xe9"}\n{"input": "fine", "output": "c"}\n',
            2,
            [1, 3],
            id="jsonl-output",
        ),
        pytest.param(b"input,output\nok,a\nbad \xc3(,b\nfine,c\n", 3, [2, 4], id="csv-input"),
        pytest.param(b"input,output,id\nok,a,1\nx,b,\xff2\nfine,c,3\n", 3, [2, 4], id="csv-external-id"),
        pytest.param(
            b'[{"input": "ok", "output": "a"},\n{"input": "\xed\xa0\x80", "output": "b"},\n{"input": "fine", "output": "c"}]',
            2,
            [1, 3],
            id="json-surrogate-bytes",
        ),
        pytest.param(
            b'{"instruction": "ok", "output": "a"}\n{"instruction": "i", "input": "\xff", "output": "b"}\n'
            b'{"instruction": "fine", "output": "c"}\n',
            2,
            [1, 3],
            id="alpaca-input",
        ),
    ],
)
def test_given_invalid_utf8_in_one_row_when_reading_then_only_that_row_is_an_error(
    data: bytes, bad_line: int, good_lines: list[int]
) -> None:
    items = read(data)

    assert errors(items) == [(bad_line, "The row is not valid UTF-8.")]
    assert [line for line, _ in good(items)] == good_lines


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"input,output,note\nok,a,n\nx,b,caf\xe9\nfine,c,n\n", id="csv-extra-column"),
        pytest.param(
            b'{"input": "ok", "output": "a"}\n{"input": "x", "output": "b", "note": "\xff"}\n', id="jsonl-key"
        ),
    ],
)
def test_given_invalid_utf8_in_a_metadata_value_when_reading_then_that_row_is_an_error(data: bytes) -> None:
    """Metadata is stored too: bytes that are not UTF-8 cannot be stored (or shown) there either."""
    items = read(data)

    assert [line for line, _ in errors(items)] == [3 if data.startswith(b"input") else 2]
    assert "not valid UTF-8" in errors(items)[0][1]


LATIN1_FRENCH = (
    "text,label\n"
    "Où est ma carte bancaire ?,card_arrival\n"
    "Je n'ai toujours pas reçu ma carte,card_arrival\n"
    "Quel est le taux de change aujourd'hui ?,exchange_rate\n"
    "J'ai perdu ma carte hier soir,lost_or_stolen_card\n"
    "Comment lier ma carte à l'application ?,card_linking\n"
    "Ma carte a été volée au café,lost_or_stolen_card\n"
    "Les frais de conversion sont élevés,exchange_rate\n"
    "Délai de livraison de la carte ?,card_arrival\n"
    "Carte reçue mais pas activée,card_linking\n"
    "Quand arrivera ma nouvelle carte ?,card_arrival\n"
).encode("latin-1")


def _zipped(data: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("rows.csv", data)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        pytest.param("input,output\na,b\n".encode("utf-16"), "UTF-16", id="utf16-bom"),
        pytest.param(b"\xfe\xff" + "input,output\n".encode("utf-16-be"), "UTF-16", id="utf16-be-bom"),
        pytest.param('{"input": "a"}\n'.encode("utf-32"), "UTF-32", id="utf32-bom"),
        pytest.param("input,output\na,b\n".encode("utf-16-le"), "binary", id="utf16-no-bom"),
        pytest.param(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)), "binary", id="png"),
        pytest.param(bytes(range(256)) * 16, "binary", id="all-bytes"),
        pytest.param(
            gzip.compress(b'{"input": "a"}\n' * 50), "gzip archive; upload the file inside", id="gzip"
        ),
        pytest.param(_zipped(b"input,output\na,b\n"), "zip archive", id="zip"),
        pytest.param(b"", "empty", id="empty"),
        pytest.param(b" \n\r\n\t\n", "empty", id="only-whitespace"),
        pytest.param(BOM, "empty|no header row", id="only-a-bom"),
        pytest.param(
            ("texte,étiquette\n" + "élève à côté,été\n" * 40).encode("latin-1"), "UTF-8", id="latin1-dense"
        ),
        pytest.param(LATIN1_FRENCH, "UTF-8", id="latin1-french"),
    ],
)
def test_given_a_file_that_is_not_utf8_text_when_opening_then_it_is_unreadable(
    data: bytes, message: str
) -> None:
    with pytest.raises(UnreadableFile, match=message):
        read(data)


# --- in_background ------------------------------------------------------------------------------


def reader_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name == "finch-import-reader"]


def test_given_a_generator_when_run_in_background_then_every_item_comes_in_order() -> None:
    assert list(in_background(iter(range(100)), ahead=3)) == list(range(100))
    assert reader_threads() == []


def test_given_a_producer_that_fails_when_consumed_then_the_consumer_gets_the_items_then_the_error() -> None:
    def produce() -> Iterator[int]:
        yield 1
        yield 2
        raise UnreadableFile("The JSON array is truncated.")

    received: list[int] = []
    with pytest.raises(UnreadableFile, match="truncated"):
        for item in in_background(produce()):
            received.append(item)

    assert received == [1, 2]
    assert reader_threads() == []


def test_given_a_consumer_that_stops_early_when_run_in_background_then_the_producer_stops() -> None:
    produced = itertools.count()
    made: list[int] = []

    def endless() -> Iterator[int]:
        for number in produced:
            made.append(number)
            yield number

    items = in_background(endless(), ahead=2)
    assert isinstance(items, Generator)
    first = [next(items) for _ in range(3)]
    items.close()  # what a `break` out of the for loop does

    assert first == [0, 1, 2]
    assert reader_threads() == []
    count = len(made)
    assert count <= 3 + 2 + 1  # what was taken, what the queue holds, and one blocked in put
    threading.Event().wait(0.3)  # the producer would have gone on by now
    assert len(made) == count


def test_given_a_consumer_that_fails_when_run_in_background_then_the_producer_stops() -> None:
    made: list[int] = []

    def endless() -> Iterator[int]:
        for number in itertools.count():
            made.append(number)
            yield number

    with pytest.raises(RuntimeError, match="database down"):
        for number in in_background(endless()):
            if number == 5:
                raise RuntimeError("database down")

    assert reader_threads() == []
    count = len(made)
    threading.Event().wait(0.3)
    assert len(made) == count


def test_given_a_consumer_that_stops_while_the_producer_is_blocked_then_it_is_still_joined() -> None:
    """The queue is full and the producer waits in put: stopping must not hang."""
    items = in_background(iter(range(1000)), ahead=1)
    assert isinstance(items, Generator)
    assert next(items) == 0
    threading.Event().wait(0.3)  # let the producer fill the queue and block

    items.close()

    assert reader_threads() == []
