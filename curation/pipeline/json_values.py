"""JSON a database can store: finite numbers, bounded nesting, integers of bounded size.

Python's json module reads `NaN`, `Infinity` and `1e999` (as float infinity) although JSON has
none of them, and PostgreSQL refuses them in a jsonb column; it gives up on integers of more than
4,300 digits and on nesting deeper than its recursion limit with exceptions that are not
JSONDecodeError. Every path that takes JSON from a user (import rows, API bodies, form fields)
reads and writes it through here, so each of those becomes one plain refusal.

Import files are read with decoder(), which also keeps what the json module would lose on the way:
a float's text as the file wrote it (`3.10`, `1e5`, which an output given as a number becomes)
and every key of an object (a repeated key is refused rather than collapsed).
"""

from __future__ import annotations

import json
import math
import sys
from typing import Any

MAX_DEPTH = 100
MAX_INT_DIGITS = sys.get_int_max_str_digits() or 4300

NOT_FINITE = "holds NaN or Infinity (or a number too large for a float), which JSON cannot store"
TOO_DEEP = f"nests deeper than {MAX_DEPTH} levels"
TOO_BIG_INT = f"holds an integer of more than {MAX_INT_DIGITS} digits"


class UnstorableJSON(ValueError):
    """Well-formed enough to parse, but holding a value no database column can store."""


class RepeatedKey(UnstorableJSON):
    """An object that gives one key twice: Python's json keeps only the last value. A subclass of
    UnstorableJSON so that every reader reports it as its row's error, in plain words."""


class FloatText(float):
    """A float that remembers its text in the file: float() turns `3.10` into 3.1 and `1e5` into
    100000.0, and a number given where text is expected must stay as the user wrote it. It is a
    float in every other way; json.dumps writes it as one (float.__repr__)."""

    __slots__ = ("text",)
    text: str


# A message that names a value's type (`Expected a JSON object, found float.`) names the JSON
# number as Python's, not as this stand-in.
FloatText.__name__ = "float"


def _refuse_constant(name: str) -> Any:
    raise UnstorableJSON(NOT_FINITE)


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise UnstorableJSON(NOT_FINITE)
    return value


def float_text(text: str) -> FloatText:
    """The number a float's text means, keeping that text (see FloatText)."""
    value = FloatText(text)
    if math.isinf(value):
        raise UnstorableJSON(NOT_FINITE)
    value.text = text
    return value


def unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """An object hook refusing a key given twice (Python keeps the last value silently)."""
    value = dict(pairs)
    if len(value) != len(pairs):
        raise RepeatedKey(
            f"gives the key {_first_repeated(pairs)!r} twice in one object, and only one of its "
            "values could be kept: rename or remove one"
        )
    return value


def _first_repeated(pairs: list[tuple[str, Any]]) -> str:
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            return key
        seen.add(key)
    raise AssertionError("no key repeats")


def number_text(value: int | float) -> str:
    """A number as text: as the file wrote it when decoder() read it, else as Python writes it.

    Integers need no hook (a call per integer, for files with long lists of them): JSON writes
    them without `+` or leading zeros, so str() gives back the file's text, but for `-0`."""
    return value.text if isinstance(value, FloatText) else str(value)


def decoder() -> json.JSONDecoder:
    """The decoder import records are read with: it refuses NaN, Infinity, out-of-range numbers
    and repeated keys while it reads, and floats keep their text (see number_text)."""
    return json.JSONDecoder(
        parse_constant=_refuse_constant, parse_float=float_text, object_pairs_hook=unique_keys
    )


# API bodies and form fields: plain floats and Python's handling of repeated keys, as before.
_DECODER = json.JSONDecoder(parse_constant=_refuse_constant, parse_float=_finite_float)
_IMPORT_DECODER = decoder()


def parse(text: str) -> Any:
    """Parse JSON text, refusing what the parser meets (NaN, 1e999, huge integers, nesting past
    Python's limit) but leaving the depth check to whoever stores the value (see dumps)."""
    return _decoded(_DECODER, text)


def parse_imported(text: str) -> Any:
    """parse() for JSON text inside an import row (a CSV metadata cell), read as decoder() reads
    records: a repeated key is refused too."""
    return _decoded(_IMPORT_DECODER, text)


def _decoded(json_decoder: json.JSONDecoder, text: str) -> Any:
    try:
        return json_decoder.decode(text)
    except json.JSONDecodeError:
        raise
    except (ValueError, RecursionError) as exc:
        raise unstorable(exc) from exc


def loads(text: str) -> Any:
    """Parse JSON text; json.JSONDecodeError if malformed, UnstorableJSON if not storable."""
    value = parse(text)
    check(value)
    return value


def unstorable(exc: BaseException) -> UnstorableJSON:
    """The plain-language form of what the json module raised beside JSONDecodeError."""
    if isinstance(exc, UnstorableJSON):
        return exc
    if isinstance(exc, RecursionError):
        return UnstorableJSON(TOO_DEEP)
    return UnstorableJSON(TOO_BIG_INT if "digits" in str(exc) else NOT_FINITE)


def dumps(value: Any) -> str:
    """Compact, key-sorted JSON text (Finch's canonical form); UnstorableJSON if not storable."""
    try:
        text = json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (ValueError, RecursionError) as exc:
        raise unstorable(exc) from exc
    if text.count("[") + text.count("{") > MAX_DEPTH:  # only then can it nest too deeply
        _check_depth(value)
    return text


def check(value: Any) -> None:
    """Refuse a parsed or built value that a database cannot store as JSON."""
    if isinstance(value, dict | list):
        dumps(value)
    elif isinstance(value, float) and not math.isfinite(value):
        raise UnstorableJSON(NOT_FINITE)


def _check_depth(value: Any) -> None:
    """Walk the containers without recursion (the value may nest as deep as the parser allows)."""
    level: list[tuple[Any, int]] = [(value, 1)]
    while level:
        item, depth = level.pop()
        if depth > MAX_DEPTH:
            raise UnstorableJSON(TOO_DEEP)
        children = item.values() if isinstance(item, dict) else item
        level.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
