"""Stage validated import rows in one table per batch, then merge each into examples set-wise.

The merge skips rows whose content hash or external_id already exists in the project: the
database's unique constraints decide, so concurrent imports of one file create each row once.

On PostgreSQL the import's reader thread COPYs each batch over a second connection into an
unlogged table while the main connection merges the previous one, so parsing, loading and
merging run at once. SQLite has one writer, so there the batches go into temporary tables on
the main connection.
"""

from __future__ import annotations

from typing import Any

import psycopg
from django.db import connection, transaction
from django.utils import timezone

from curation.errors import ApplicationError
from curation.models import Example, ItemStatus, LabelingItem, Project
from curation.services.import_rows import StagedRow

STAGING_COLUMNS = "line, input, output, metadata, external_id, content_hash"
STAGING_TABLE = (
    "(line integer NOT NULL, input text NOT NULL, output text NOT NULL, metadata text NOT NULL,"
    " external_id text, content_hash text NOT NULL)"
)
BINARY_TYPES = ["int4", "text", "text", "text", "text", "text"]
QUEUED_COLUMNS = (
    "project_id, input, input_hash, metadata, external_id, source, status, target_overlap, coverage,"
    " annotation_count, created_by_id, created_at"
)
MERGED_COLUMNS = (
    "project_id, input, output, metadata, external_id, content_hash, status, revision, last_change,"
    " source, created_by_id, updated_by_id, created_at, updated_at, suggestion_use, search_indexed"
)


class Staging:
    """Batch tables for one import job, and the merge out of them."""

    def __init__(self, job_id: int, values: dict[str, Any], *, one_batch_at_a_time: bool) -> None:
        self.prefix = f"finch_import_{job_id}_"
        # SQLite keeps a lone batch's temporary table in memory; a whole staged file goes to disk.
        self.sqlite_temp_store = "MEMORY" if one_batch_at_a_time else "FILE"
        self.values = values
        self.is_postgres = connection.vendor == "postgresql"
        self.stages_in_reader = self.is_postgres
        self.batches = 0
        self.tables: list[str] = []
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
            cursor.executemany(f"INSERT INTO {table} ({STAGING_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)", rows)
        return table

    def merge(self, table: str) -> int:
        """Insert the batch's new rows into examples (or the labeling queue), in file order;
        returns how many."""
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
                f" FROM {table} WHERE TRUE ORDER BY line ON CONFLICT DO NOTHING",
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
                f" FROM {table} WHERE TRUE ORDER BY line ON CONFLICT DO NOTHING",
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
        self._drop(table)
        return created

    def _drop(self, table: str) -> None:
        if table in self.tables:
            self.tables.remove(table)
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
