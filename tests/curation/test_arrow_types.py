"""The Parquet export's nested types: metadata's type unified over a version, conversations as
lists of {role, content}."""

from __future__ import annotations

import pyarrow as pa

from curation.freeze.arrow_types import (
    MESSAGES,
    arrow_type,
    messages_array,
    metadata_array,
    shape_of,
    unified,
)


def column(values: list[dict]) -> pa.Array:
    return metadata_array(values, unified(shape_of(value) for value in values))


def test_metadata_keys_become_one_struct_with_missing_keys_null() -> None:
    values = [{"source": "web", "score": 1}, {"score": 2.5, "tags": ["a", "b"]}, {}]
    array = column(values)
    assert array.type == pa.struct(
        [("score", pa.float64()), ("source", pa.string()), ("tags", pa.list_(pa.string()))]
    )
    assert array.to_pylist() == [
        {"score": 1.0, "source": "web", "tags": None},
        {"score": 2.5, "source": None, "tags": ["a", "b"]},
        {"score": None, "source": None, "tags": None},
    ]


def test_nested_objects_unify_key_by_key() -> None:
    array = column([{"origin": {"file": "a.csv", "line": 3}}, {"origin": {"file": "b.csv", "ok": True}}])
    assert array.type == pa.struct(
        [("origin", pa.struct([("file", pa.string()), ("line", pa.int64()), ("ok", pa.bool_())]))]
    )
    assert array.to_pylist()[1] == {"origin": {"file": "b.csv", "line": None, "ok": True}}


def test_a_key_of_no_common_type_is_its_json_text_in_every_row() -> None:
    array = column([{"rating": 5, "extra": {}}, {"rating": "five", "extra": {}}, {"rating": None}])
    assert array.type == pa.struct([("extra", pa.string()), ("rating", pa.string())])
    assert array.to_pylist() == [
        {"extra": "{}", "rating": "5"},
        {"extra": "{}", "rating": '"five"'},
        {"extra": None, "rating": None},
    ]


def test_booleans_are_not_numbers_and_huge_integers_are_text() -> None:
    assert arrow_type(unified([shape_of(True), shape_of(1)])) == pa.string()
    assert column([{"n": 2**70}]).to_pylist() == [{"n": str(2**70)}]


def test_no_metadata_anywhere_is_a_null_column() -> None:
    array = column([{}, {}])
    assert array.type == pa.null() and array.to_pylist() == [None, None]


def test_the_same_values_give_the_same_type_in_any_order() -> None:
    values = [{"a": 1, "b": [1, 2.5]}, {"b": [], "c": {"d": "x"}}, {"a": 2.0}]
    assert arrow_type(unified(map(shape_of, values))) == arrow_type(unified(map(shape_of, values[::-1])))


def test_messages_are_lists_of_role_and_content() -> None:
    array = messages_array([[{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]])
    assert array.type == MESSAGES
    assert array.to_pylist() == [
        [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
    ]
