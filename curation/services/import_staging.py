"""Stage validated import rows in one table per batch, then merge each into examples set-wise.

The merge skips rows whose content hash or external_id already exists in the project: the
database's unique constraints decide, so concurrent imports of one file create each row once.
A skipped row is already there (skipped_existing) only when it is that row again: the same
external_id with the same content, or, without an external_id, the same content. Otherwise it
clashed with another example (its external_id holds other content, or its content is another
external_id's) and is reported as a row error: set-wise queries after the merge, run only for a
batch where some rows did not land (see Staging._report_clashes).

On PostgreSQL the import's reader thread COPYs each batch over a second connection into an
unlogged table while the main connection merges the previous one, so parsing, loading and
merging run at once. SQLite has one writer, so there the batches go into temporary tables on
the main connection.
"""

from __future__ import annotations

import sqlite3
from typing import Any, NamedTuple

import psycopg
from django.db import connection, transaction
from django.utils import timezone

from curation.errors import ApplicationError
from curation.models import Example, ItemStatus, LabelingItem, Project
from curation.pipeline.readers import ArrayLine
from curation.services.import_rows import ImportReport, StagedRow

STAGING_COLUMNS = "line, record, input, output, metadata, external_id, content_hash"
STAGING_TABLE = (
    "(line integer NOT NULL, record integer NOT NULL, input text NOT NULL, output text NOT NULL,"
    " metadata text NOT NULL, external_id text, content_hash text NOT NULL)"
)
BINARY_TYPES = ["int4", "int4", "text", "text", "text", "text", "text"]
# A row's place in the file as one number: its line, then its record (JSON arrays on one line).
PLACE_SHIFT = 1 << 32
QUEUED_COLUMNS = (
    "project_id, input, input_hash, metadata, external_id, source, status, target_overlap, coverage,"
    " annotation_count, created_by_id, created_at"
)
MERGED_COLUMNS = (
    "project_id, input, output, metadata, external_id, content_hash, status, revision, last_change,"
    " source, created_by_id, updated_by_id, created_at, updated_at, suggestion_use, search_indexed"
)


class Clash(NamedTuple):
    """The row errors for a row that clashed, by external_id (formatted with the row's
    external_id, the target's id, where the target came from) and by content (the target's id,
    where it came from and its external_id, the row's external_id)."""

    external_id: str
    content: str


EXAMPLE_CLASH = Clash(
    "external_id {} is already example {}{} with another input or output; not imported.",
    "Same input and output as example {} ({}): a project keeps one example per content, so"
    " external_id {} was not imported.",
)
QUEUE_CLASH = Clash(
    "external_id {} is already labeling item {}{} with another input; not queued.",
    "Same input as labeling item {} ({}): the queue keeps one item per input, so external_id {}"
    " was not queued.",
)


def clash_sql(table: str, target: str, hash_column: str, *, earlier: bool) -> str:
    """The staged rows that clashed (see Staging._report_clashes): line, record, external_id,
    whether by external_id, and the target's id, external_id and source, then (with `earlier`)
    the place of the staged row the target came from, for targets of this import.

    Every lookup is a scalar subquery on a unique index, so each staged row costs one index
    probe however the planner sizes the batch table (joins got hash joins over the project's
    whole table), and the materialized steps keep each lookup from being evaluated again."""
    fence = (
        "MATERIALIZED" if connection.vendor == "postgresql" or sqlite3.sqlite_version_info >= (3, 35) else ""
    )
    probe = (
        f"(SELECT CASE WHEN x.{hash_column} = s.content_hash THEN 0 ELSE x.id END FROM {target} x"
        " WHERE x.project_id = %(project)s AND x.external_id = s.external_id)"
    )
    first = (
        f"CASE WHEN m.its_source = %(source)s THEN (SELECT MIN(t.line * {PLACE_SHIFT} + t.record)"
        f" FROM {table} t WHERE t.content_hash = m.its_hash"
        " AND COALESCE(t.external_id, '') = COALESCE(m.its_external_id, '')"
        " AND (t.line < m.line OR (t.line = m.line AND t.record < m.record))) END"
        if earlier
        else "NULL"
    )
    return (
        # The rows whose external_id is not (already) theirs with this content: x_id is the
        # example holding the external_id, or NULL.
        f"WITH c AS {fence} ("
        f" SELECT s.line, s.record, s.external_id, s.content_hash, {probe} AS x_id FROM {table} s"
        f" WHERE s.external_id IS NOT NULL AND COALESCE({probe}, -1) <> 0"
        f"), k AS {fence} ("
        " SELECT c.line, c.record, c.external_id, c.x_id, COALESCE(c.x_id,"
        f"  (SELECT h.id FROM {target} h WHERE h.project_id = %(project)s AND h.{hash_column} = c.content_hash)"
        " ) AS target_id FROM c"
        f"), m AS {fence} ("
        " SELECT k.line, k.record, k.external_id, k.x_id, k.target_id,"
        f" (SELECT e.external_id FROM {target} e WHERE e.id = k.target_id) AS its_external_id,"
        f" (SELECT e.source FROM {target} e WHERE e.id = k.target_id) AS its_source,"
        f" (SELECT e.{hash_column} FROM {target} e WHERE e.id = k.target_id) AS its_hash"
        " FROM k WHERE k.target_id IS NOT NULL"
        ")"
        " SELECT m.line, m.record, m.external_id, CASE WHEN m.x_id IS NULL THEN 0 ELSE 1 END, m.target_id,"
        f" m.its_external_id, m.its_source, {first}"
        " FROM m ORDER BY m.line, m.record"
    )


def clash_message(
    words: Clash,
    external_id: str,
    by_external_id: bool,
    source: str,
    target_id: int,
    its_external_id: str | None,
    its_source: str,
    first: int | None,
) -> str:
    """The row error for a row that clashed with the target (an example or a queued item); where
    the target came from an earlier row of this file, that row's line (or record)."""
    if first is not None:
        line, record = divmod(int(first), PLACE_SHIFT)
        origin = f"record {record} of this file" if record else f"line {line} of this file"
    elif its_source == source:
        origin = "an earlier row of this file"  # in an earlier batch, no longer staged
    else:
        origin = ""
    if by_external_id:
        return words.external_id.format(external_id, target_id, f" ({origin})" if origin else "")
    its = f"external_id {its_external_id}" if its_external_id is not None else "no external_id"
    return words.content.format(target_id, f"{origin}, {its}" if origin else its, external_id)


class Staging:
    """Batch tables for one import job, and the merge out of them."""

    def __init__(
        self,
        job_id: int,
        values: dict[str, Any],
        *,
        one_batch_at_a_time: bool,
        report: ImportReport | None = None,
    ) -> None:
        self.prefix = f"finch_import_{job_id}_"
        # SQLite keeps a lone batch's temporary table in memory; a whole staged file goes to disk.
        self.sqlite_temp_store = "MEMORY" if one_batch_at_a_time else "FILE"
        self.values = values
        self.is_postgres = connection.vendor == "postgresql"
        self.stages_in_reader = self.is_postgres
        self.batches = 0
        self.tables: list[str] = []
        self.staged_rows: dict[str, int] = {}
        # Where the merge reports rows that clashed with other examples: the report given, or
        # the one the staged batches carry (import_rows.StagedBatch).
        self.report = report
        self._loader: psycopg.Connection[Any] | None = None

    def __enter__(self) -> Staging:
        self.drop_leftovers()
        if self.is_postgres:
            self._loader = psycopg.connect(**connection.get_connection_params(), autocommit=True)
        else:
            self._set_temp_store(self.sqlite_temp_store)
        return self

    def __exit__(self, *exc_info: object) -> None:
        for table in list(self.tables):
            self._drop(table)
        if self._loader is not None:
            self._loader.close()
        else:
            self._set_temp_store("DEFAULT")

    def _set_temp_store(self, where: str) -> None:
        if connection.in_atomic_block:
            return  # SQLite cannot change it inside a transaction (a test's, say); the default will do
        with connection.cursor() as cursor:
            cursor.execute(f"PRAGMA temp_store = {where}")

    def stage(self, rows: list[StagedRow]) -> str:
        """Put a batch in a new table and name it (in the reader thread on PostgreSQL)."""
        self.batches += 1
        table = f"{self.prefix}{self.batches}"
        self.tables.append(table)
        self.staged_rows[table] = len(rows)
        if self.report is None:
            self.report = getattr(rows, "report", None)
        if self._loader is not None:
            with self._loader.cursor() as cursor:
                cursor.execute(f"CREATE UNLOGGED TABLE {table} {STAGING_TABLE}")
                with cursor.copy(f"COPY {table} ({STAGING_COLUMNS}) FROM STDIN (FORMAT BINARY)") as copy:
                    copy.set_types(BINARY_TYPES)
                    for row in rows:
                        copy.write_row(row)
            return table
        with connection.cursor() as cursor:
            cursor.execute(f"CREATE TEMP TABLE {table} {STAGING_TABLE}")
            cursor.executemany(f"INSERT INTO {table} ({STAGING_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
        return table

    def merge(self, table: str) -> int:
        """Insert the batch's new rows into examples (or the labeling queue), in file order;
        returns how many. Rows that clashed with other examples go to the report as errors."""
        if self.values.get("overlap_sql") is not None:
            return self._merge_queued(table)
        metadata = "metadata::jsonb" if self.is_postgres else "metadata"
        now, values = timezone.now(), self.values
        with transaction.atomic(), connection.cursor() as cursor:
            self._hold_project(cursor)
            cursor.execute(
                f"INSERT INTO {Example._meta.db_table} ({MERGED_COLUMNS})"
                f" SELECT %s, input, output, {metadata}, external_id, content_hash,"
                " %s, 1, 'imported', %s, %s, %s, %s, %s, '', %s"
                f" FROM {table} WHERE TRUE ORDER BY line, record ON CONFLICT DO NOTHING",
                [
                    values["project_id"],
                    values["status"],
                    values["source"],
                    values["user_id"],
                    values["user_id"],
                    now,
                    now,
                    # Outside the trigram indexes on PostgreSQL: they cost 100 us a row, 4x the
                    # rest of the import. curation.search.search_backlog_index adds them after.
                    not self.is_postgres,
                ],
            )
            created = int(cursor.rowcount)
            if created < self.staged_rows.get(table, 0):
                self._report_clashes(cursor, table, Example._meta.db_table, "content_hash", EXAMPLE_CLASH)
        self._drop(table)
        return created

    def _hold_project(self, cursor: Any) -> None:
        """What the examples' missing project constraint would check for every row, once a batch:
        the project still exists, and (PostgreSQL) cannot be deleted until the batch commits."""
        lock = " FOR KEY SHARE" if self.is_postgres else ""
        cursor.execute(
            f"SELECT 1 FROM {Project._meta.db_table} WHERE id = %s{lock}", [self.values["project_id"]]
        )
        if cursor.fetchone() is None:
            raise ApplicationError("The project was deleted during the import; no more rows were written.")

    def _merge_queued(self, table: str) -> int:
        """Queue the batch's new inputs. A staged row has an empty output, so its content hash
        is content_hash(input, ""): the item's input_hash, whose unique constraint (and
        external_id's) skips inputs already queued; the overlap sample is drawn from it in SQL."""
        metadata = "metadata::jsonb" if self.is_postgres else "metadata"
        overlap, overlap_params = self.values["overlap_sql"]
        values = self.values
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {LabelingItem._meta.db_table} ({QUEUED_COLUMNS})"
                f" SELECT %s, input, content_hash, {metadata}, external_id, %s, %s, {overlap}, 0, 0, %s, %s"
                f" FROM {table} WHERE TRUE ORDER BY line, record ON CONFLICT DO NOTHING",
                [
                    values["project_id"],
                    values["source"],
                    ItemStatus.QUEUED.value,
                    *overlap_params,
                    values["user_id"],
                    timezone.now(),
                ],
            )
            created = int(cursor.rowcount)
            if created < self.staged_rows.get(table, 0):
                self._report_clashes(cursor, table, LabelingItem._meta.db_table, "input_hash", QUEUE_CLASH)
        self._drop(table)
        return created

    def _report_clashes(self, cursor: Any, table: str, target: str, hash_column: str, words: Clash) -> None:
        """Report the batch's rows that did not land and are not there already.

        A row with an external_id is there already only if its external_id holds its very
        content; else it clashed: its external_id holds other content (the row names that
        example), or (its external_id unused) its content is another example's. A row without
        an external_id is identified by its content, so it is always there already.

        Set-wise, after the merge, in one query: each staged row with an external_id probes the
        target's external_id index once; only the rows that clashed go on to the content index
        and to the example they clashed with. Where that example came from this import, a second
        query names the staged row that created it (an index on the batch table, built then)."""
        source = self.values["source"]
        params = {"project": self.values["project_id"], "source": source}
        if self.is_postgres:
            # Its subqueries' estimates pass jit_above_cost: compiling would take 0.5 s a batch,
            # ten times the query (20,000 index probes). Until the merge's transaction ends.
            cursor.execute("SET LOCAL jit = off")
        cursor.execute(clash_sql(table, target, hash_column, earlier=False), params)
        clashes = cursor.fetchall()
        if any(its_source == source for *_, its_source, _first in clashes):
            cursor.execute(f"CREATE INDEX {table}_content ON {table} (content_hash)")
            cursor.execute(clash_sql(table, target, hash_column, earlier=True), params)
            clashes = cursor.fetchall()
        report = self.report
        if report is None:  # they must not vanish into skipped_existing again
            raise RuntimeError("Staging needs the import's report for the rows that clashed.")
        for line, record, external_id, by_external_id, *clashed in clashes:
            place = ArrayLine(line, record) if record else line
            report.fail(place, clash_message(words, external_id, bool(by_external_id), source, *clashed))

    def _drop(self, table: str) -> None:
        if table in self.tables:
            self.tables.remove(table)
        self.staged_rows.pop(table, None)
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {table}")

    def drop_leftovers(self) -> None:
        """Tables a killed worker left behind for this job, before it is run again."""
        if not self.is_postgres:
            return  # temporary tables die with their connection
        with connection.cursor() as cursor:
            cursor.execute("SELECT tablename FROM pg_tables WHERE tablename ~ %s", [f"^{self.prefix}[0-9]+$"])
            for (table,) in cursor.fetchall():
                cursor.execute(f"DROP TABLE IF EXISTS {table}")
