"""JSON a database can store: finite numbers, bounded nesting, integers of bounded size.

Python's json module reads `NaN`, `Infinity` and `1e999` (as float infinity) although JSON has
none of them, and PostgreSQL refuses them in a jsonb column; it gives up on integers of more than
4,300 digits and on nesting deeper than its recursion limit with exceptions that are not
JSONDecodeError. Every path that takes JSON from a user (import rows, API bodies, form fields)
reads and writes it through here, so each of those becomes one plain refusal.
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


def _refuse_constant(name: str) -> Any:
    raise UnstorableJSON(NOT_FINITE)


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise UnstorableJSON(NOT_FINITE)
    return value


def decoder() -> json.JSONDecoder:
    """A decoder that refuses NaN, Infinity and out-of-range numbers while it reads."""
    return json.JSONDecoder(parse_constant=_refuse_constant, parse_float=_finite_float)


_DECODER = decoder()


def parse(text: str) -> Any:
    """Parse JSON text, refusing what the parser meets (NaN, 1e999, huge integers, nesting past
    Python's limit) but leaving the depth check to whoever stores the value (see dumps)."""
    try:
        return _DECODER.decode(text)
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
