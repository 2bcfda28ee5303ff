"""Filtering by many values at once, in as few queries as the database allows."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, TypeVar

from django.db import connection
from django.db.models import Model, QuerySet
from django.db.models.expressions import RawSQL

M = TypeVar("M", bound=Model)
# SQLite binds at most 32,766 variables; PostgreSQL takes one array however long.
SQLITE_CHUNK = 5000


def matching(
    queryset: QuerySet[M], field: str, values: Sequence[Any], *, sql_type: str
) -> Iterator[QuerySet[M]]:
    """`queryset` limited to rows whose `field` is one of `values`: on PostgreSQL one query with
    an array parameter (thousands of placeholders cost more to parse than to run), on SQLite in
    chunks. `sql_type` is the PostgreSQL element type (bigint, text)."""
    if connection.vendor == "postgresql":
        yield queryset.filter(**{f"{field}__in": RawSQL(f"SELECT unnest(%s::{sql_type}[])", (list(values),))})
        return
    for start in range(0, len(values), SQLITE_CHUNK):
        yield queryset.filter(**{f"{field}__in": values[start : start + SQLITE_CHUNK]})
