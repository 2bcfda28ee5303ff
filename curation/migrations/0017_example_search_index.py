"""Trigram GIN indexes for the examples' text search (`?q=`), on PostgreSQL only.

Not atomic: the indexes are built CONCURRENTLY, so a big table keeps taking writes meanwhile.
SQLite has no trigram index; there the search stays a scan (docs/operations.md)."""

from typing import Any

from django.db import migrations

from curation.search import trigram_indexes_create, trigram_indexes_drop


def forwards(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        trigram_indexes_create(schema_editor.connection, partial=False)  # 0025 makes them partial


def backwards(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        trigram_indexes_drop(schema_editor.connection)


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("curation", "0016_truncate_guards_and_self_review")]

    operations = [migrations.RunPython(forwards, backwards, elidable=False)]
