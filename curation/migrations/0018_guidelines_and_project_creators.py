"""Project guidelines with their revisions and who read which; versions keep theirs."""

from importlib import import_module

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps

# SQLite adds a column with a default by rebuilding the table, which its triggers (0010's frozen
# version guards, some naming the table) do not survive: they are lifted around the new columns.
_guards = import_module("curation.migrations.0010_frozen_versions_are_immutable")


def lift_sqlite_guards(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    if schema_editor.connection.vendor == "sqlite":
        _guards.drop(apps, schema_editor)


def restore_sqlite_guards(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    if schema_editor.connection.vendor == "sqlite":
        _guards.drop(apps, schema_editor)
        _guards.create(apps, schema_editor)


class Migration(migrations.Migration):
    dependencies = [
        ("curation", "0017_example_search_index"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RunPython(lift_sqlite_guards, restore_sqlite_guards),
        migrations.AddField(
            model_name="datasetversion",
            name="guidelines",
            field=models.TextField(blank=True, help_text="The project's guidelines when it was frozen."),
        ),
        migrations.AddField(
            model_name="datasetversion",
            name="guidelines_revision",
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.RunPython(restore_sqlite_guards, lift_sqlite_guards),
        migrations.AddField(
            model_name="project",
            name="guidelines",
            field=models.TextField(
                blank=True,
                help_text="Annotation guidelines (Markdown), with examples of good and bad outputs.",
            ),
        ),
        migrations.AddField(
            model_name="project",
            name="guidelines_revision",
            field=models.PositiveIntegerField(
                default=0, help_text="Counts the guidelines' changes; 0 while there are none."
            ),
        ),
        migrations.CreateModel(
            name="GuidelinesRead",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("revision", models.PositiveIntegerField(default=0)),
                ("read_at", models.DateTimeField(auto_now=True)),
                (
                    "project",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="+", to="curation.project"
                    ),
                ),
                (
                    "user",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(fields=("project", "user"), name="guidelines_read_unique_user")
                ],
            },
        ),
        migrations.CreateModel(
            name="GuidelinesRevision",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("number", models.PositiveIntegerField()),
                ("text", models.TextField(blank=True)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                (
                    "created_by",
                    models.ForeignKey(
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "project",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="guidelines_revisions",
                        to="curation.project",
                    ),
                ),
            ],
            options={
                "ordering": ["-number"],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("project", "number"), name="guidelines_revision_unique_number"
                    )
                ],
            },
        ),
    ]
