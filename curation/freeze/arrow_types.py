"""Arrow types for a version's Parquet export: conversations and metadata as nested features, so
`datasets.load_dataset` hands trainers lists of {role, content} and metadata as dicts, not JSON
text to decode row by row.

Metadata is free-form JSON, so its type is inferred over every item of the version (both splits
share one schema) by unifying each value's shape: integers and floats make a float; a missing or
null value is null; objects are structs of the union of their keys (sorted); lists take the
unified type of their elements. A value whose shapes disagree (text in one item, a number in
another) or an object with no key anywhere is written as its canonical JSON text, since Arrow
has no type for it (and Parquet no empty struct); this holds at any depth, so a list whose
elements disagree ([1, "a"]) is a list of JSON texts (['1', '"a"']), a null element staying
null. An integer outside int64 is JSON text too. With no metadata key in any item the column is
null in every row. Pure functions: the same values always give the same type and arrays.

`lossless` (export revision 2 on): an integer that a float64 cannot hold exactly (beyond 2**53;
not every one there) is kind `bigint`: int64 alone, with other integers, but JSON text when the
same place holds a float too, rather than a float that rounds it. Without it (revision 1) such
an integer and a float make a float, as versions frozen before it keep doing.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

INT64_RANGE = range(-(2**63), 2**63)
MESSAGE = pa.struct([("role", pa.string()), ("content", pa.string())])
MESSAGES = pa.list_(MESSAGE)
SCALARS = {
    "bool": pa.bool_(),
    "int": pa.int64(),
    "bigint": pa.int64(),
    "float": pa.float64(),
    "string": pa.string(),
}


@dataclass(frozen=True)
class Shape:
    """A JSON value's type: `null`, a scalar kind (`bigint`: an integer a float would round),
    `json` (no common type), `list` of `item`, or `struct` of `fields`."""

    kind: str
    item: Shape | None = None
    fields: tuple[tuple[str, Shape], ...] = field(default=())


NULL, JSON = Shape("null"), Shape("json")


def shape_of(value: Any, *, lossless: bool = False) -> Shape:
    """The value's shape; with `lossless`, an integer a float would round is `bigint`."""
    if value is None:
        return NULL
    if isinstance(value, bool):
        return Shape("bool")
    if isinstance(value, int):
        if value not in INT64_RANGE:
            return JSON
        return Shape("bigint") if lossless and float(value) != value else Shape("int")
    if isinstance(value, float):
        return Shape("float")
    if isinstance(value, str):
        return Shape("string")
    if isinstance(value, list):
        return Shape("list", item=unified(shape_of(item, lossless=lossless) for item in value))
    if isinstance(value, dict):
        return Shape(
            "struct",
            fields=tuple(sorted((str(k), shape_of(v, lossless=lossless)) for k, v in value.items())),
        )
    return JSON


def unified(shapes: Iterable[Shape]) -> Shape:
    result = NULL
    for shape in shapes:
        result = unify(result, shape)
    return result


def unify(a: Shape, b: Shape) -> Shape:
    """The type that holds values of both shapes (JSON text when none does)."""
    if a == b or b == NULL:
        return a
    if a == NULL:
        return b
    if {a.kind, b.kind} == {"int", "float"}:
        return Shape("float")
    if {a.kind, b.kind} == {"int", "bigint"}:
        return Shape("bigint")  # both int64; a float with them is JSON text (below)
    if a.kind == b.kind == "list":
        return Shape("list", item=unify(a.item or NULL, b.item or NULL))
    if a.kind == b.kind == "struct":
        left, right = dict(a.fields), dict(b.fields)
        names = sorted(left.keys() | right.keys())
        return Shape("struct", fields=tuple((n, unify(left.get(n, NULL), right.get(n, NULL))) for n in names))
    return JSON


def arrow_type(shape: Shape) -> pa.DataType:
    if shape.kind == "null":
        return pa.null()
    if shape.kind in SCALARS:
        return SCALARS[shape.kind]
    if shape.kind == "list":
        return pa.list_(arrow_type(shape.item or NULL))
    if shape.kind == "struct" and shape.fields:
        return pa.struct([(name, arrow_type(inner)) for name, inner in shape.fields])
    return pa.string()  # json, and an object with no key anywhere


def conformed(value: Any, shape: Shape) -> Any:
    """`value` as the Arrow type of `shape` takes it (`shape` unifies the value's own shape)."""
    if value is None:
        return None
    if shape.kind == "float":
        return float(value)
    if shape.kind == "list":
        return [conformed(item, shape.item or NULL) for item in value]
    if shape.kind == "struct" and shape.fields:
        return {name: conformed(value.get(name), inner) for name, inner in shape.fields}
    if shape.kind in ("json", "struct"):
        return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return value


def metadata_array(values: list[dict[str, Any]], shape: Shape) -> pa.Array:
    """The metadata column of `values` (each an item's metadata object) as the type of `shape`,
    the shape unified over the whole version; null in every row when no item has a key."""
    if shape.kind != "struct" or not shape.fields:
        return pa.nulls(len(values))
    return pa.array([conformed(value, shape) for value in values], type=arrow_type(shape))


def messages_array(conversations: list[list[dict[str, str]]]) -> pa.Array:
    """Conversations as lists of {role, content} structs."""
    return pa.array(
        [[{"role": m["role"], "content": m["content"]} for m in turns] for turns in conversations],
        type=MESSAGES,
    )
