"""The labeling queue's hot statements run as prepared statements on PostgreSQL
(curation/prepared_sql.py): planned once per connection, logged like any other statement, and
run plainly where preparing is off or the database is SQLite."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from curation.models import LabelingAssignment, LabelingItem
from curation.prepared_sql import fetch_rows, model_from_row, prepares_statements
from curation.services.labeling import annotation_submit, items_enqueue, next_assignment
from tests.conftest import Team
from tests.curation.test_labeling_queue import annotators

pytestmark = pytest.mark.django_db

on_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="prepared statements are PostgreSQL's"
)


def prepared_statements() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        return [row[0] for row in cursor.fetchall()]


def connections_kept_for(seconds: int) -> Iterator[None]:
    before = connection.settings_dict.get("CONN_MAX_AGE")
    connection.settings_dict["CONN_MAX_AGE"] = seconds
    yield
    connection.settings_dict["CONN_MAX_AGE"] = before


@pytest.fixture
def kept_connections() -> Iterator[None]:
    """Connections that outlive their request, as production's settings keep them."""
    yield from connections_kept_for(60)


@pytest.fixture
def a_connection_a_request() -> Iterator[None]:
    """DATABASE_CONN_MAX_AGE=0: a connection closed at the end of each request."""
    yield from connections_kept_for(0)


@pytest.fixture
def unprepared() -> Iterator[None]:
    """The connection as FINCH_DB_PREPARED_STATEMENTS=false (Django's own default) makes it."""
    connection.ensure_connection()
    raw = connection.connection
    before = raw.prepare_threshold
    raw.prepare_threshold = None
    yield
    raw.prepare_threshold = before


def hand_out_and_answer(team: Team) -> LabelingAssignment:
    items_enqueue(project=team.project, user=team.lead, inputs=[{"input": "Where is my card?"}])
    (user,) = annotators(team.project, 1)
    claim = next_assignment(project=team.project, user=user)
    assert claim is not None
    return annotation_submit(item=claim.item, user=user, output="card_arrival")


@on_postgresql
def test_a_hand_out_and_its_answer_run_as_prepared_statements_and_are_logged_with_their_values(
    team: Team, kept_connections: None
) -> None:
    assert prepares_statements()
    with CaptureQueriesContext(connection) as statements:
        answer = hand_out_and_answer(team)
    logged = [query["sql"] for query in statements]
    claim = next(sql for sql in logged if sql.startswith("WITH state AS"))
    assert f"= {team.project.pk} AND" in claim  # the values inlined, as Django logs any statement
    assert any(sql.startswith("WITH answered AS") and "'card_arrival'" in sql for sql in logged)
    prepared = prepared_statements()
    assert any(sql.startswith("WITH state AS") and "$1" in sql for sql in prepared)
    assert any(sql.startswith("WITH answered AS") for sql in prepared)
    assert LabelingAssignment.objects.get(pk=answer.pk).output == "card_arrival"


@on_postgresql
@pytest.mark.parametrize("off", ["unprepared", "a_connection_a_request"])
def test_with_preparing_off_or_a_connection_a_request_the_same_statements_run_unprepared(
    team: Team, kept_connections: None, request: pytest.FixtureRequest, off: str
) -> None:
    request.getfixturevalue(off)
    assert not prepares_statements()
    before = prepared_statements()
    answer = hand_out_and_answer(team)
    assert prepared_statements() == before
    assert LabelingItem.objects.get(pk=answer.item_id).annotation_count == 1


def test_a_model_from_a_row_equals_the_one_the_orm_reads(team: Team) -> None:
    (item,) = items_enqueue(
        project=team.project,
        user=team.lead,
        inputs=[{"input": "Where is my card?", "metadata": {"channel": "chat", "turns": [1, 2]}}],
    ).created
    (row,) = fetch_rows(f"SELECT * FROM {LabelingItem._meta.db_table} WHERE id = %s", [item.pk])
    built = model_from_row(LabelingItem, row)
    stored = LabelingItem.objects.get(pk=item.pk)
    for field in LabelingItem._meta.concrete_fields:
        assert getattr(built, field.attname) == getattr(stored, field.attname), field.name
    assert built.metadata == {"channel": "chat", "turns": [1, 2]}
    assert not built._state.adding


@on_postgresql
@pytest.mark.django_db(transaction=True)
def test_a_column_added_while_a_connection_holds_the_statements_breaks_nothing(
    team: Team, kept_connections: None
) -> None:
    """A migration run by another process (a deploy) while a web thread's connection holds the
    prepared statements: they name their columns, so their results keep their row type."""
    queue = [{"input": f"message {n}"} for n in range(3)]
    items_enqueue(project=team.project, user=team.lead, inputs=queue)
    first, second = annotators(team.project, 2)
    claim = next_assignment(project=team.project, user=first)
    assert claim is not None
    annotation_submit(item=claim.item, user=first, output="card_arrival")
    params = {
        key: value for key, value in connection.get_connection_params().items() if key != "cursor_factory"
    }
    with psycopg.connect(**params, autocommit=True) as deploy:
        deploy.execute("ALTER TABLE curation_labelingitem ADD COLUMN added_by_a_deploy integer")
        deploy.execute("ALTER TABLE curation_labelingassignment ADD COLUMN added_by_a_deploy integer")
        try:
            again = next_assignment(project=team.project, user=second)
            assert again is not None
            answer = annotation_submit(item=again.item, user=second, output="card_arrival")
            assert answer.output == "card_arrival"
        finally:
            deploy.execute("ALTER TABLE curation_labelingitem DROP COLUMN added_by_a_deploy")
            deploy.execute("ALTER TABLE curation_labelingassignment DROP COLUMN added_by_a_deploy")
