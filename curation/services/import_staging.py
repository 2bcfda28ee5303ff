"""Stage validated import rows in a temporary table, then merge them into examples set-wise.

Nothing reaches the examples table until the whole file has been read, so a file that turns
out unreadable halfway creates nothing. The merge skips rows whose content hash or
external_id already exists (a database constraint decides, so concurrent imports of the same
file create each row once) and runs in chunks, each in its own short transaction.
"""

from __future__ import annotations

from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from curation.models import Example

StagedRow = tuple[
    int, str, str, str, str | None, str
]  # line, input, output, metadata JSON, external_id, hash
STAGING_COLUMNS = "line, input, output, metadata, external_id, content_hash"
MERGED_COLUMNS = (
    "project_id, input, output, metadata, external_id, content_hash, status, revision, last_change,"
    " source, created_by_id, updated_by_id, created_at, updated_at"
)


class Staging:
    """A per-job temporary table on the current connection."""

    def __init__(self, job_id: int) -> None:
        self.table = f"finch_import_{job_id}"
        self.is_postgres = connection.vendor == "postgresql"

    def __enter__(self) -> Staging:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {self.table}")
            cursor.execute(
                f"CREATE TEMP TABLE {self.table} (line integer NOT NULL, input text NOT NULL, "
                "output text NOT NULL, metadata text NOT NULL, external_id text, content_hash text NOT NULL)"
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
                placeholders = ", ".join("?" * len(rows[0])) if rows else ""
                cursor.executemany(
                    f"INSERT INTO {self.table} ({STAGING_COLUMNS}) VALUES ({placeholders})", rows
                )

    def line_range(self) -> tuple[int, int]:
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT COALESCE(MIN(line), 0), COALESCE(MAX(line), -1) FROM {self.table}")
            low, high = cursor.fetchone()
        return int(low), int(high)

    def merge(self, *, first_line: int, last_line: int, values: dict[str, Any]) -> int:
        """Insert the staged lines [first_line, last_line] that are new; returns how many."""
        example = Example._meta.db_table
        metadata = "metadata::jsonb" if self.is_postgres else "metadata"
        now = timezone.now()
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {example} ({MERGED_COLUMNS})"
                f" SELECT %s, input, output, {metadata}, external_id, content_hash,"
                " %s, 1, 'imported', %s, %s, %s, %s, %s"
                f" FROM {self.table} WHERE line BETWEEN %s AND %s ORDER BY line ON CONFLICT DO NOTHING",
                [
                    values["project_id"],
                    values["status"],
                    values["source"],
                    values["user_id"],
                    values["user_id"],
                    now,
                    now,
                    first_line,
                    last_line,
                ],
            )
            created = cursor.rowcount
        return int(created)
