"""Examples gain `search_indexed`; on PostgreSQL the trigram indexes are rebuilt over the rows
marked so, and the backlog (a bulk import's rows, until search_backlog_index marks them) gets
an index of its own (curation/search.py).

Not atomic: the indexes are built CONCURRENTLY, so a big table keeps taking writes meanwhile
(searches read the table while they are rebuilt, bounded by FINCH_SEARCH_TIMEOUT_MS)."""

from typing import Any

from django.db import migrations, models

from curation.search import trigram_indexes_create, trigram_indexes_drop


def forwards(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        trigram_indexes_drop(schema_editor.connection)
        trigram_indexes_create(schema_editor.connection)


def backwards(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        trigram_indexes_drop(schema_editor.connection)
        trigram_indexes_create(schema_editor.connection, partial=False)


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("curation", "0024_quality_job_phases")]

    operations = [
        migrations.AddField(
            model_name="example",
            name="search_indexed",
            field=models.BooleanField(db_default=True, default=True),
        ),
        migrations.RunPython(forwards, backwards, elidable=False),
    ]
