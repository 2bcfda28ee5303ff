"""The text search index of examples (`?q=`), on PostgreSQL: trigram GIN indexes (pg_trgm).

`q` matches a case-insensitive substring of the input or the output; Django writes that as
`UPPER(input::text) LIKE UPPER('%q%')`, so the indexes are on the same expressions, and a GIN
trigram index answers such a LIKE for a `q` of three characters or more without reading the
table. They are built CONCURRENTLY (writes go on while a big table is indexed), so outside a
transaction. SQLite has no trigram index: there the search reads the project's rows.

Keeping a trigram index costs about 100 us a row written (a few hundred trigrams of a 500
character text), four times the rest of a bulk import. So the indexes hold the rows marked
`search_indexed` (every row but a bulk import's, at first), and the search reads the others,
the backlog, through a small index of their ids: a search finds an imported row at once, and
the import lands at its own speed. After an import a task (search_backlog_index) marks its rows
indexed in batches, which adds them to the trigram indexes in the background.

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
from curation.services.dispatch import send_on_commit

TRIGRAM_INDEXES = {
    "example_input_trgm": "UPPER(input) gin_trgm_ops",
    "example_output_trgm": "UPPER(output) gin_trgm_ops",
}
BACKLOG_INDEX = "example_search_backlog"
BACKLOG_BATCH = 5_000  # rows marked indexed a transaction
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
    """Examples whose input or output holds `text`, in any case: the indexed rows through the
    trigram indexes, the backlog through its own index (each arm implies its index's condition)."""
    indexed, backlog = Q(search_indexed=True), Q(search_indexed=False)
    in_input, in_output = Q(input__icontains=text), Q(output__icontains=text)
    # Three arms, no condition common to all: PostgreSQL would factor a common one out of the
    # OR and leave the trigram indexes nothing to look up.
    return (indexed & in_input) | (indexed & in_output) | (backlog & (in_input | in_output))


def search_backlog_schedule(project_id: int) -> None:
    """Queue search_backlog_index for the project once the current transaction commits (a beat
    sweep, search_backlog_sweep, catches a task that was lost)."""
    if connection.vendor != "postgresql":  # no trigram index, no backlog
        return
    from curation.tasks import search_backlog  # the task module imports this one

    send_on_commit(lambda: search_backlog.delay(project_id), what=f"project {project_id}'s search backlog")


def search_backlog_sweep() -> int:
    """Index every project's backlog (beat: rows whose task was lost); returns rows marked."""
    if connection.vendor != "postgresql":  # imports leave no backlog there: skip the scan
        return 0
    from curation.models import Example

    projects = Example.objects.filter(search_indexed=False).values_list("project_id", flat=True).distinct()
    return sum(search_backlog_index(project_id) for project_id in list(projects))


def search_backlog_index(project_id: int) -> int:
    """Mark the project's rows outside the trigram indexes indexed, BACKLOG_BATCH rows a
    transaction (each adds its rows to the indexes); returns how many. Safe to run twice.

    Rows another transaction holds (a dedup job writing its marks, a bulk edit) are skipped,
    not waited for: waiting while holding rows of its own, in another order, deadlocked with
    them. What is skipped waits for the next run or the beat sweep."""
    from curation.models import Example

    marked = 0
    while True:
        with transaction.atomic():
            batch = list(
                Example.objects.select_for_update(skip_locked=True)
                .filter(project_id=project_id, search_indexed=False)
                .order_by("id")
                .values_list("id", flat=True)[:BACKLOG_BATCH]
            )
            if not batch:
                return marked
            marked += Example.objects.filter(id__in=batch, search_indexed=False).update(search_indexed=True)


def trigram_indexes_create(connection: Any, *, partial: bool = True) -> None:
    """Create pg_trgm and the indexes (an index left invalid by an interrupted build is rebuilt).
    `partial`: over the rows marked search_indexed, with the backlog's own index (migration
    0025 on; 0017 built them over every row)."""
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
            where = " WHERE search_indexed" if partial else ""
            cursor.execute(
                f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON curation_example"
                f" USING gin ({expression}){where}"
            )
        if partial:
            cursor.execute(
                f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {BACKLOG_INDEX} ON curation_example"
                " (project_id, id) WHERE NOT search_indexed"
            )


def trigram_indexes_drop(connection: Any) -> None:
    """Drop the indexes (the extension stays: other objects may use it)."""
    with connection.cursor() as cursor:
        for name in [*TRIGRAM_INDEXES, BACKLOG_INDEX]:
            cursor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")
