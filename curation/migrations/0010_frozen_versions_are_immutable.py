"""Database triggers that refuse any change to a frozen version or its items, whoever asks
(the ORM, raw SQL, an admin shell). Items may only be written while their version freezes."""

from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps

VERSION = "curation_datasetversion"
ITEM = "curation_versionitem"
MESSAGE = "dataset version is frozen: it and its items cannot be changed"

# Items: a row trigger refuses every UPDATE (items are never updated); INSERT and DELETE are
# checked once per statement against the rows they touched, so a million-row freeze pays once.
POSTGRESQL_CREATE = f"""
CREATE FUNCTION finch_refuse_frozen() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '{MESSAGE}' USING ERRCODE = 'integrity_constraint_violation';
END $$;
CREATE TRIGGER version_frozen BEFORE UPDATE OR DELETE ON {VERSION}
    FOR EACH ROW WHEN (OLD.status = 'frozen') EXECUTE FUNCTION finch_refuse_frozen();
CREATE TRIGGER version_item_update BEFORE UPDATE ON {ITEM}
    FOR EACH ROW EXECUTE FUNCTION finch_refuse_frozen();

CREATE FUNCTION finch_refuse_frozen_items() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (
        SELECT 1 FROM {VERSION} WHERE status = 'frozen' AND id IN (SELECT DISTINCT version_id FROM changed)
    ) THEN
        RAISE EXCEPTION '{MESSAGE}' USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER version_item_insert AFTER INSERT ON {ITEM} REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION finch_refuse_frozen_items();
CREATE TRIGGER version_item_delete AFTER DELETE ON {ITEM} REFERENCING OLD TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION finch_refuse_frozen_items();
"""
POSTGRESQL_DROP = f"""
DROP TRIGGER IF EXISTS version_item_delete ON {ITEM};
DROP TRIGGER IF EXISTS version_item_insert ON {ITEM};
DROP FUNCTION IF EXISTS finch_refuse_frozen_items();
DROP TRIGGER IF EXISTS version_item_update ON {ITEM};
DROP TRIGGER IF EXISTS version_frozen ON {VERSION};
DROP FUNCTION IF EXISTS finch_refuse_frozen();
"""

_FROZEN_ITEM = f"(SELECT status FROM {VERSION} WHERE id = {{row}}.version_id) = 'frozen'"
SQLITE_CREATE = [
    f"""CREATE TRIGGER version_frozen_update BEFORE UPDATE ON {VERSION} WHEN OLD.status = 'frozen'
        BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END""",
    f"""CREATE TRIGGER version_frozen_delete BEFORE DELETE ON {VERSION} WHEN OLD.status = 'frozen'
        BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END""",
    f"""CREATE TRIGGER version_item_update BEFORE UPDATE ON {ITEM}
        BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END""",
    f"""CREATE TRIGGER version_item_delete BEFORE DELETE ON {ITEM} WHEN {_FROZEN_ITEM.format(row="OLD")}
        BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END""",
    f"""CREATE TRIGGER version_item_insert BEFORE INSERT ON {ITEM} WHEN {_FROZEN_ITEM.format(row="NEW")}
        BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END""",
]
SQLITE_TRIGGERS = [
    "version_frozen_update",
    "version_frozen_delete",
    "version_item_update",
    "version_item_delete",
    "version_item_insert",
]


def create(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(POSTGRESQL_CREATE)
    elif schema_editor.connection.vendor == "sqlite":
        for statement in SQLITE_CREATE:
            schema_editor.execute(statement)


def drop(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(POSTGRESQL_DROP)
    elif schema_editor.connection.vendor == "sqlite":
        for name in SQLITE_TRIGGERS:
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("curation", "0009_dataset_versions")]
    operations = [migrations.RunPython(create, drop)]
