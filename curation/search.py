"""The text search index of examples (`?q=`), on PostgreSQL: trigram GIN indexes (pg_trgm).

`q` matches a case-insensitive substring of the input or the output; Django writes that as
`UPPER(input::text) LIKE UPPER('%q%')`, so the indexes are on the same expressions, and a GIN
trigram index answers such a LIKE for a `q` of three characters or more without reading the
table. They are built CONCURRENTLY (writes go on while a big table is indexed), so outside a
transaction. SQLite has no trigram index: there the search reads the project's rows.

Either way a search is bounded in time (`search_bounded`, FINCH_SEARCH_TIMEOUT_MS): one that a
short pattern or a very common word makes slow is stopped with a 400 naming `q`, instead of
holding a web worker.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.conf import settings
from django.db import OperationalError, connection, transaction
from django.db.models import Q

from curation.errors import InvalidInput

TRIGRAM_INDEXES = {
    "example_input_trgm": "UPPER(input) gin_trgm_ops",
    "example_output_trgm": "UPPER(output) gin_trgm_ops",
}
EXTENSION_HELP = (
    "Creating the pg_trgm extension was refused ({error}). On PostgreSQL 13 and later the "
    "database's owner may create it; else have a superuser run `CREATE EXTENSION pg_trgm;` in "
    "Finch's database once, then migrate again (docs/operations.md)."
)
QUERY_CANCELED = "57014"  # PostgreSQL's SQLSTATE for a statement stopped by statement_timeout
SQLITE_CHECK_EVERY = 1_000  # virtual machine instructions (a few a row) between looks at the clock


@contextmanager
def search_bounded(query: str | None) -> Iterator[None]:
    """Run the block's queries under the search time limit when there is a text query `q`;
    InvalidInput (400, field q) if it is exceeded. Evaluate the search inside the block."""
    if not query:
        yield
        return
    limit_ms = settings.FINCH_SEARCH_TIMEOUT_MS
    try:
        with _database_limit(limit_ms):
            yield
    except OperationalError as exc:
        if not _stopped(exc):
            raise
        raise InvalidInput(
            f"q: the search for {query[:100]!r} took longer than {limit_ms / 1000:g} s and was stopped. "
            "Search for a longer or rarer word (three characters or more), or narrow it with status or source.",
            field="q",
        ) from exc


@contextmanager
def _database_limit(limit_ms: int) -> Iterator[None]:
    if connection.vendor == "postgresql":
        with transaction.atomic():  # SET LOCAL ends with it (or with a savepoint's rollback)
            with connection.cursor() as cursor:
                cursor.execute(f"SET LOCAL statement_timeout = {int(limit_ms)}")
            yield
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL statement_timeout TO DEFAULT")
    elif connection.vendor == "sqlite":
        connection.ensure_connection()
        raw = connection.connection
        deadline = time.monotonic() + limit_ms / 1000
        raw.set_progress_handler(lambda: int(time.monotonic() > deadline), SQLITE_CHECK_EVERY)
        try:
            yield
        finally:
            raw.set_progress_handler(None, 0)
    else:
        yield


def _stopped(exc: OperationalError) -> bool:
    cause = exc.__cause__
    return getattr(cause, "sqlstate", None) == QUERY_CANCELED or "interrupted" in str(exc)


def text_match(text: str) -> Q:
    """Examples whose input or output holds `text`, in any case (what the indexes serve)."""
    return Q(input__icontains=text) | Q(output__icontains=text)


def trigram_indexes_create(connection: Any) -> None:
    """Create pg_trgm and the indexes (an index left invalid by an interrupted build is rebuilt)."""
    from django.db import DatabaseError

    with connection.cursor() as cursor:
        try:
            cursor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        except DatabaseError as exc:
            raise RuntimeError(EXTENSION_HELP.format(error=str(exc).strip())) from exc
        for name, expression in TRIGRAM_INDEXES.items():
            cursor.execute(
                "SELECT 1 FROM pg_index JOIN pg_class ON pg_class.oid = indexrelid "
                "WHERE relname = %s AND NOT indisvalid",
                [name],
            )
            if cursor.fetchone():
                cursor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")
            cursor.execute(
                f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON curation_example USING gin ({expression})"
            )


def trigram_indexes_drop(connection: Any) -> None:
    """Drop the indexes (the extension stays: other objects may use it)."""
    with connection.cursor() as cursor:
        for name in TRIGRAM_INDEXES:
            cursor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")
