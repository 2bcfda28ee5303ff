from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from curation.models import Project, Role
from tests.factories import MembershipFactory, ProjectFactory, UserFactory
from tests.training.support import (  # noqa: F401  # fixtures for every test module
    frozen,
    smollm2_folder,
    tiny_copy,
    tiny_model,
)


@dataclass
class Team:
    """A project with one user per role, a member of nothing, and a staff user."""

    project: Project
    annotator: User
    reviewer: User
    lead: User
    outsider: User
    staff: User

    def user(self, name: str) -> User:
        return getattr(self, name)


@pytest.fixture
def team(db: None) -> Team:
    project = ProjectFactory.create()
    members = {role: MembershipFactory.create(project=project, role=role).user for role in Role.values}
    return Team(
        project=project,
        annotator=members[Role.ANNOTATOR],
        reviewer=members[Role.REVIEWER],
        lead=members[Role.LEAD],
        outsider=UserFactory.create(),
        staff=UserFactory.create(is_staff=True),
    )


@pytest.fixture
def media_in_tmp(settings: Any, tmp_path: Path) -> None:
    """Uploaded and exported files go to a fresh folder per test (modules that write files use
    it: `pytestmark = pytest.mark.usefixtures("media_in_tmp")`)."""
    settings.MEDIA_ROOT = str(tmp_path / "media")


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def client_for(db: None) -> Callable[[User | None], APIClient]:
    """An API client that sends the user's token (or none, for None)."""

    def make(user: User | None) -> APIClient:
        client = APIClient()
        if user is not None:
            token, _ = Token.objects.get_or_create(user=user)
            client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
        return client

    return make


@pytest.fixture(autouse=True, scope="session")
def frozen_versions_flushable() -> Iterator[None]:
    """A transactional test ends with a flush, and the triggers that keep frozen versions
    immutable refuse it: on SQLite it deletes row by row (row triggers), on PostgreSQL it
    truncates (TRUNCATE triggers). For flushes only, they are lifted and put back (on PostgreSQL
    in the flush's own transaction, so no other connection ever sees them lifted). On the
    classes, for the whole session: the flush runs after function fixtures are gone, and browser
    tests may flush through another connection object."""
    from django.db.backends.postgresql import base as postgresql_base
    from django.db.backends.sqlite3 import base  # imports its operations module in order

    rows = importlib.import_module("curation.migrations.0010_frozen_versions_are_immutable")
    truncate = importlib.import_module("curation.migrations.0016_truncate_guards_and_self_review")
    sqlite, postgresql = base.DatabaseWrapper.ops_class, postgresql_base.DatabaseWrapper.ops_class
    sqlite_flush, postgresql_flush = sqlite.sql_flush, postgresql.sql_flush

    def sqlite_lifted(self: Any, style: Any, tables: Any, **options: Any) -> list[str]:
        drop = [f"DROP TRIGGER IF EXISTS {name}" for name in rows.SQLITE_TRIGGERS]
        return [*drop, *sqlite_flush(self, style, tables, **options), *rows.SQLITE_CREATE]

    def postgresql_lifted(self: Any, style: Any, tables: Any, **options: Any) -> list[str]:
        flush = postgresql_flush(self, style, tables, **options)
        if not flush:
            return flush
        triggers = truncate.TRUNCATE_TRIGGERS
        lift = [f"ALTER TABLE {table} DISABLE TRIGGER {name}" for name, table in triggers]
        restore = [f"ALTER TABLE {table} ENABLE TRIGGER {name}" for name, table in triggers]
        return [*lift, *flush, *restore]

    sqlite.sql_flush = sqlite_lifted  # type: ignore[method-assign]
    postgresql.sql_flush = postgresql_lifted  # type: ignore[method-assign]
    yield
    sqlite.sql_flush = sqlite_flush  # type: ignore[method-assign]
    postgresql.sql_flush = postgresql_flush  # type: ignore[method-assign]
