"""Values from a query string (list filters, page cursors), checked in one place for the API, the
web pages and the selectors: a value a filter cannot take is an InvalidInput naming the filter (a
400), never a database error (a 500). PostgreSQL refuses NUL in any text it compares, and an
integer column refuses what is not an integer or does not fit in 64 bits."""

from __future__ import annotations

from collections.abc import Collection

from curation.errors import InvalidInput
from curation.services.content import refuse_nul

MAX_ID = 2**63 - 1  # a bigint; larger ids cannot exist and would overflow the query
BOOLEAN_WORDS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}
_SHOWN = 50  # characters of a refused value quoted back


def known_only(names: Collection[str], allowed: Collection[str]) -> None:
    """Refuse a query parameter the list does not take: a misspelled filter (`stauts=approved`)
    would be ignored, and the list, or an export of it, hold everything."""
    if unknown := sorted(set(names) - set(allowed)):
        raise InvalidInput(
            f"{unknown[0]}: not a parameter of this list; it takes {', '.join(sorted(allowed))}.",
            field=unknown[0],
        )


def text(value: str | None, name: str) -> str:
    """A text filter's value as given ("" when absent); refuses NUL and text that is not UTF-8."""
    return refuse_nul(value or "", name)


def whole_number(value: str | None, name: str, *, low: int = 0, high: int = MAX_ID) -> int | None:
    """A whole number from `low` to `high` written in ASCII digits (None when absent or empty);
    "abc", "nan", "1e999", "²" (a digit to str.isdigit, not to int) and overflow are refused."""
    if value is None or not value.strip():
        return None
    digits = value.strip()
    if not (digits.isascii() and digits.isdigit() and len(digits) <= len(str(high))) or not (
        low <= int(digits) <= high
    ):
        raise InvalidInput(
            f"{name} must be a whole number from {low} to {high}, not {value[:_SHOWN]!r}.", field=name
        )
    return int(digits)


def object_id(value: str | None, name: str) -> int | None:
    """An id filter (`?project=`, `?version=`): a whole number above 0, or None when absent."""
    return whole_number(value, name, low=1)


def choice(value: str | None, allowed: Collection[str], name: str) -> str | None:
    """One of `allowed` (None when absent or empty)."""
    if not value:
        return None
    if value not in allowed:
        raise InvalidInput(f"Unknown {name} {value[:_SHOWN]!r}; use one of {', '.join(allowed)}.", field=name)
    return value


def boolean(value: str | None, name: str) -> bool | None:
    """true/false (also 1/0, yes/no); None when absent or empty."""
    if value is None or value == "":
        return None
    if value.lower() not in BOOLEAN_WORDS:
        raise InvalidInput(f"{name} must be true or false, not {value[:_SHOWN]!r}.", field=name)
    return BOOLEAN_WORDS[value.lower()]
