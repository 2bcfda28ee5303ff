"""Hot statements run as PostgreSQL prepared statements: parsed and planned once per connection
instead of on every call.

Django sends every statement as text with its values inlined (psycopg's client-side binding),
so PostgreSQL parses and plans it each time; for the labeling queue's hand-out that planning is
most of the database's work (0.6 of 0.8 ms). A statement run here is bound server side and
prepared on its first run in a connection; from the sixth run PostgreSQL keeps one generic plan
for it when that plan costs no more than the custom ones.

A prepared statement lives as long as its connection: statements are prepared only where
connections outlive their request (`DATABASE_CONN_MAX_AGE`, 60 s in production settings; a
worker's connections live across tasks). They live in one server session, which a connection
pooler in transaction mode (PgBouncer before 1.21, or without `max_prepared_statements`) does
not keep: behind one, set `FINCH_DB_PREPARED_STATEMENTS=false` and these statements run as
Django runs any other. On SQLite they always do.

Statements name their columns (`columns_of`), never `*`: a prepared plan whose result's row type
changes (a column added by a migration while a connection lives) fails with "cached plan must
not change result type".
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any, TypeVar, cast

import psycopg
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.utils import CursorDebugWrapper, CursorWrapper
from django.db.models import Model

M = TypeVar("M", bound=Model)


def fetch_rows(sql: str, params: Sequence[Any]) -> list[dict[str, Any]]:
    """The rows of `sql` (with `%s` placeholders), each a dict by column name; prepared where the
    connection allows it."""
    with _cursor(_database()) as cursor:
        cursor.execute(sql, params)
        columns = _column_names(cursor)
        return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


def _database() -> BaseDatabaseWrapper:
    """The thread's default connection itself: each attribute read through the `connection`
    proxy is a thread-local lookup, and a hand-out made dozens of them."""
    return connections[DEFAULT_DB_ALIAS]


def _column_names(cursor: CursorWrapper) -> list[str]:
    result = getattr(cursor.cursor, "pgresult", None)
    if result is None:
        return [column[0] for column in cursor.description]
    # psycopg's cursor.description builds a whole Column object for each: names only, faster.
    return [result.fname(index).decode() for index in range(result.nfields)]


def _cursor(database: BaseDatabaseWrapper) -> CursorWrapper:
    database.ensure_connection()
    if not _prepares_on(database):
        return database.cursor()
    database.validate_thread_sharing()
    wrapper = PreparedDebugCursor if database.queries_logged else CursorWrapper
    return wrapper(PreparingCursor(database.connection), database)


class PreparingCursor(psycopg.Cursor[Any]):
    """A server-binding cursor that prepares every statement it runs."""

    def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:
        return super().execute(query, params, prepare=True, **kwargs)


class PreparedDebugCursor(CursorDebugWrapper):
    """Logs a prepared statement with its values inlined, as Django logs others: psycopg keeps no
    text of a prepared statement's run to report."""

    def execute(self, sql: Any, params: Any = None) -> Any:
        with self.debug_sql(cast(Any, self.db.ops).compose_sql(sql, params)):
            return CursorWrapper.execute(self, sql, params)


def prepares_statements() -> bool:
    """Whether statements run here are prepared: PostgreSQL with prepared statements allowed
    (OPTIONS `prepare_threshold` set, see config/settings/base.py) on a connection that outlives
    its request (CONN_MAX_AGE not 0): preparing costs a round trip of its own, repaid only by the
    runs after it."""
    return _prepares_on(_database())


def _prepares_on(database: BaseDatabaseWrapper) -> bool:
    return (
        database.vendor == "postgresql"
        and database.connection.prepare_threshold is not None
        and database.settings_dict.get("CONN_MAX_AGE") != 0
    )


def columns_of(model: type[Model], table: str) -> str:
    """The model's columns as a select list, each qualified by `table` (a name or an alias)."""
    return ", ".join(f"{table}.{field.column}" for field in model._meta.concrete_fields)


def model_from_row(model: type[M], row: dict[str, Any]) -> M:
    """An instance of `model` from a row holding all its columns (others are ignored), the
    values converted as a queryset converts them (JSON decoded, for one)."""
    database = _database()
    columns, attnames = _columns(model, database.vendor)
    values = []
    for column, col, converters in columns:
        value = row[column]
        for convert in converters:
            value = convert(value, col, database)
        values.append(value)
    return model.from_db(database.alias, attnames, values)


@functools.cache
def _columns(model: type[Model], vendor: str) -> tuple[list[tuple[str, Any, list[Any]]], list[str]]:
    """Each concrete field's column, its expression and converters, in the model's field order,
    and their attribute names (looked up once: on every row they cost more than the statement's
    round trip)."""
    database = _database()
    columns = []
    for field in model._meta.concrete_fields:
        col = field.get_col(model._meta.db_table)
        converters = [*database.ops.get_db_converters(col), *col.get_db_converters(database)]
        columns.append((field.column, col, converters))
    return columns, [field.attname for field in model._meta.concrete_fields]
