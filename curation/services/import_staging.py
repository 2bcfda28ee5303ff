"""Stage validated import rows in a temporary table and merge them into examples set-wise.

The merge skips rows whose content hash or external_id already exists in the project: the
database's unique constraints decide, so concurrent imports of one file create each row once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from curation.models import Example
from curation.services.import_rows import StagedRow

STAGING_COLUMNS = "line, input, output, metadata, external_id, content_hash"
MERGED_COLUMNS = (
    "project_id, input, output, metadata, external_id, content_hash, status, revision, last_change,"
    " source, created_by_id, updated_by_id, created_at, updated_at"
)
MERGE_CHUNK_LINES = 50_000


class Staging:
    """A per-job temporary table on the current connection, and the merge out of it."""

    def __init__(self, job_id: int, values: dict[str, Any]) -> None:
        self.table = f"finch_import_{job_id}"
        self.values = values
        self.is_postgres = connection.vendor == "postgresql"

    def __enter__(self) -> Staging:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {self.table}")
            cursor.execute(
                f"CREATE TEMP TABLE {self.table} (line integer NOT NULL, input text NOT NULL,"
                " output text NOT NULL, metadata text NOT NULL, external_id text, content_hash text NOT NULL)"
            )
        return self

    def __exit__(self, *exc_info: object) -> None:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {self.table}")

    def write(self, rows: list[StagedRow]) -> None:
        """Add a batch of rows: one COPY on PostgreSQL, one executemany on SQLite."""
        with connection.cursor() as cursor:
            if self.is_postgres:
                with cursor.copy(f"COPY {self.table} ({STAGING_COLUMNS}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
            else:
                sql = f"INSERT INTO {self.table} ({STAGING_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)"
                cursor.executemany(sql, rows)

    def merge_and_clear(self) -> int:
        """Merge everything staged, then empty the staging table; returns how many were new."""
        with transaction.atomic():
            created = self._merge("TRUE", [])
            with connection.cursor() as cursor:
                cursor.execute(f"{'TRUNCATE' if self.is_postgres else 'DELETE FROM'} {self.table}")
        return created

    def merge_in_chunks(self, on_progress: Callable[[float], None]) -> int:
        """Merge a fully staged file in line ranges, each in its own short transaction."""
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT COALESCE(MIN(line), 0), COALESCE(MAX(line), -1) FROM {self.table}")
            first, last = cursor.fetchone()
        created = 0
        for start in range(first, last + 1, MERGE_CHUNK_LINES):
            end = min(start + MERGE_CHUNK_LINES - 1, last)
            with transaction.atomic():
                created += self._merge("line BETWEEN %s AND %s", [start, end])
            on_progress((end - first + 1) / (last - first + 1))
        return created

    def _merge(self, where: str, params: list[Any]) -> int:
        metadata = "metadata::jsonb" if self.is_postgres else "metadata"
        now = timezone.now()
        values = self.values
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {Example._meta.db_table} ({MERGED_COLUMNS})"
                f" SELECT %s, input, output, {metadata}, external_id, content_hash,"
                " %s, 1, 'imported', %s, %s, %s, %s, %s"
                f" FROM {self.table} WHERE {where} ORDER BY line ON CONFLICT DO NOTHING",
                [
                    values["project_id"],
                    values["status"],
                    values["source"],
                    values["user_id"],
                    values["user_id"],
                    now,
                    now,
                    *params,
                ],
            )
            return int(cursor.rowcount)
