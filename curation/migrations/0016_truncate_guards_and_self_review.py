"""Two changes: TRUNCATE of the version tables is refused while any frozen version exists
(PostgreSQL; row triggers never see a TRUNCATE, and SQLite has none), and projects get the
separation-of-duties setting for reviews, on by default."""

from django.db import migrations, models
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps

VERSION = "curation_datasetversion"
ITEM = "curation_versionitem"
MESSAGE = "dataset versions are frozen: their tables cannot be truncated"
# (trigger, table): the test suite's flush lifts these by name (tests/conftest.py).
TRUNCATE_TRIGGERS = [("version_truncate", VERSION), ("version_item_truncate", ITEM)]

# Statement-level: a TRUNCATE touches no rows, so the refusal asks whether any version is
# frozen at all. `TRUNCATE curation_project CASCADE` reaches the version table too.
POSTGRESQL_CREATE = f"""
CREATE FUNCTION finch_refuse_truncate_frozen() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM {VERSION} WHERE status = 'frozen') THEN
        RAISE EXCEPTION '{MESSAGE}' USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NULL;
END $$;
""" + "".join(
    f"CREATE TRIGGER {name} BEFORE TRUNCATE ON {table}\n"
    "    FOR EACH STATEMENT EXECUTE FUNCTION finch_refuse_truncate_frozen();\n"
    for name, table in TRUNCATE_TRIGGERS
)
POSTGRESQL_DROP = "".join(f"DROP TRIGGER IF EXISTS {name} ON {table};\n" for name, table in TRUNCATE_TRIGGERS) + (
    "DROP FUNCTION IF EXISTS finch_refuse_truncate_frozen();"
)


def create(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(POSTGRESQL_CREATE)


def drop(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(POSTGRESQL_DROP)


class Migration(migrations.Migration):
    dependencies = [("curation", "0014_export_jobs")]
    operations = [
        migrations.RunPython(create, drop),
        migrations.AddField(
            model_name="project",
            name="reviewers_may_not_review_own",
            field=models.BooleanField(
                default=True,
                help_text="Separation of duties: a reviewer may not approve or reject an example they "
                "wrote or last edited (leads may, and the audit log marks it a self-review).",
            ),
        ),
    ]
