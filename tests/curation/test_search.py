"""The examples' text search (`?q=`): a case-insensitive substring of the input or the output,
served by trigram indexes on PostgreSQL, and stopped with a 400 naming `q` when it runs longer
than FINCH_SEARCH_TIMEOUT_MS (a search of a big project held a sync web worker for 3.3 s a
request; nothing bounded it)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection
from rest_framework.test import APIClient

from curation.models import Example, ExampleStatus
from curation.search import (
    BACKLOG_INDEX,
    TRIGRAM_INDEXES,
    search_backlog_index,
    search_backlog_sweep,
    text_match,
)
from curation.selectors import example_list
from curation.services.content import content_hash
from tests.conftest import Team
from tests.curation.test_imports import jsonl, run_import
from tests.curation.ui_support import logged_in

pytestmark = pytest.mark.django_db
postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="trigram indexes are PostgreSQL's"
)

ClientFor = Callable[[User | None], APIClient]


def fill(team: Team, count: int, text: Callable[[int], str]) -> None:
    Example.objects.bulk_create(
        [
            Example(
                project=team.project,
                input=text(index),
                output=f"answer {index}",
                status=ExampleStatus.SUBMITTED,
                content_hash=content_hash(text(index), f"answer {index}"),
            )
            for index in range(count)
        ],
        batch_size=1000,
    )


def test_search_is_a_case_insensitive_substring_of_input_or_output(team: Team) -> None:
    fill(team, 50, lambda index: f"Where is parcel {index}?")
    Example.objects.filter(input="Where is parcel 7?").update(input="Where is my Quokka plush?")
    Example.objects.filter(input="Where is parcel 9?").update(output="the QUOKKA desk")

    found = example_list(project=team.project, filters={"q": "quokka"})

    assert sorted(found.values_list("input", flat=True)) == [
        "Where is my Quokka plush?",
        "Where is parcel 9?",
    ]


@postgresql_only
def test_a_rare_word_is_found_through_the_trigram_indexes(team: Team) -> None:
    # Given the indexes of the migration, and a big enough table for the planner to weigh them
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'curation_example'")
        assert set(TRIGRAM_INDEXES) <= {row[0] for row in cursor.fetchall()}
    fill(team, 20_000, lambda index: f"{index} when does my card arrive in the post")
    Example.objects.filter(input__startswith="1234 ").update(output="Quokkaesque")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE curation_example")

    # When the selector's text condition is planned (a table this small is cheaper to read
    # whole, or through the project's index: ruled out here; at a million rows the planner
    # picks the trigram indexes itself, see bench/ui.py. At 2,000 rows it would read a whole
    # partial index for its condition alone, as cheap as the pattern's look-up there)
    query = Example.objects.filter(text_match("quokkaesque")).order_by()
    sql, params = query.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_indexscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())

    # Then it reads the trigram indexes on the very expressions Django writes, each with the
    # pattern (not merely for the rows it holds), and the backlog's index
    assert plan.count("Index Cond: (upper(") == 2, plan
    assert all(name in plan for name in [*TRIGRAM_INDEXES, BACKLOG_INDEX]), plan
    found = example_list(project=team.project, filters={"q": "quokkaesque"})
    assert [example.output for example in found] == ["Quokkaesque"]


@pytest.fixture
def slow_search(team: Team, settings: Any) -> str:
    """Long rows and a two-letter pattern no index serves, under a 1 ms limit."""
    fill(team, 600, lambda index: f"{index} " + "lorem ipsum dolor sit amet " * 800)
    settings.FINCH_SEARCH_TIMEOUT_MS = 1
    return "zq"


def test_a_slow_search_is_stopped_with_a_400_naming_q(
    team: Team, client_for: ClientFor, slow_search: str, settings: Any
) -> None:
    api = client_for(team.annotator).get(f"/api/projects/{team.project.pk}/examples/?q={slow_search}")
    assert api.status_code == 400, api.content[:300]
    assert [error.get("field") for error in api.json()["errors"]] == ["q"]
    assert "took longer than" in api.json()["errors"][0]["message"]

    page = logged_in(team.annotator).get(f"/projects/{team.project.pk}/examples/?q={slow_search}")
    assert page.status_code == 400 and "took longer than" in page.content.decode()

    # The connection is fine afterwards, and the same search without the limit answers
    settings.FINCH_SEARCH_TIMEOUT_MS = 60_000
    again = client_for(team.annotator).get(f"/api/projects/{team.project.pk}/examples/?q={slow_search}")
    assert again.status_code == 200 and again.json()["results"] == []


@postgresql_only
def test_an_imported_row_is_found_at_once_and_joins_the_trigram_indexes_after_the_import(
    team: Team, django_capture_on_commit_callbacks: Any
) -> None:
    # Given rows already indexed, and an import of new ones (its rows land outside the trigram
    # indexes: they cost 100 us a row)
    fill(team, 3, lambda index: f"{index} where is my card")
    with django_capture_on_commit_callbacks() as scheduled:
        job = run_import(
            team.project, team.lead, jsonl({"input": "A wombat ate my card", "output": "card_arrival"})
        )
    assert job.created == 1
    imported = Example.objects.get(input="A wombat ate my card")
    assert not imported.search_indexed

    # Then a search finds it at once, through the backlog
    assert [e.input for e in example_list(project=team.project, filters={"q": "WOMBAT"})] == [imported.input]

    # When the task the import queued runs (eager here), then it is in the indexes, and found
    assert len(scheduled) == 1
    scheduled[0]()
    imported.refresh_from_db()
    assert imported.search_indexed
    assert not Example.objects.filter(search_indexed=False).exists()
    assert [e.input for e in example_list(project=team.project, filters={"q": "wombat"})] == [imported.input]
    # And running it again finds nothing left to do
    assert search_backlog_index(team.project.pk) == 0


def test_on_sqlite_an_import_leaves_no_backlog(team: Team) -> None:
    if connection.vendor == "postgresql":
        pytest.skip("the backlog is PostgreSQL's")
    run_import(team.project, team.lead, jsonl({"input": "A wombat ate my card", "output": "card_arrival"}))
    assert Example.objects.get(input="A wombat ate my card").search_indexed


@postgresql_only
def test_the_beat_sweep_indexes_a_backlog_whose_task_was_lost(team: Team) -> None:
    # Given imported rows still outside the indexes (their task never ran)
    fill(team, 3, lambda index: f"{index} where is my card")
    Example.objects.filter(project=team.project).update(search_indexed=False)

    # When beat's sweep runs, then they are indexed, and a second sweep has nothing to do
    assert search_backlog_sweep() == 3
    assert not Example.objects.filter(search_indexed=False).exists()
    assert search_backlog_sweep() == 0
