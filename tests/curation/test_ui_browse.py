"""Browse: the filters, the keyset pages and the cost of a page."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from curation.models import Example, ExampleStatus, FlagKind
from curation.services.flags import flag_create
from tests.conftest import Team
from tests.curation.ui_support import HTMX, logged_in, text
from tests.factories import ExampleFactory, MembershipFactory, ProjectFactory, UserFactory

MaxQueries = Callable[[int], AbstractContextManager[CaptureQueriesContext]]
ROW_LINK = re.compile(r'<td><a href="/examples/(\d+)/">')
OLDER = re.compile(r'<a class="button secondary" href="\?([^"]*)">Older examples')


def row_ids(page: str) -> list[int]:
    return [int(pk) for pk in ROW_LINK.findall(page)]


def older_link(page: str) -> str | None:
    found = OLDER.search(page)
    return "?" + html.unescape(found.group(1)) if found else None


@dataclass
class Catalog:
    """Five examples that each filter tells apart."""

    approved: Example
    imported: Example
    duplicate: Example
    flagged: Example
    plain: Example


@pytest.fixture
def catalog(team: Team) -> Catalog:
    project = team.project
    approved = ExampleFactory.create(
        project=project, input="alpha refund", status="approved", created_by=team.annotator
    )
    imported = ExampleFactory.create(
        project=project, input="beta card", source="import:rows.jsonl", created_by=team.reviewer
    )
    duplicate = ExampleFactory.create(
        project=project, input="alpha refund!", status="draft", duplicate_of=approved, output=""
    )
    flagged = ExampleFactory.create(project=project, input="gamma rate", output="exchange_rate")
    plain = ExampleFactory.create(project=project, input="delta", output="card_linking")
    flag_create(
        project=project, user=team.annotator, kind=FlagKind.CONTRADICTION, example_ids=[flagged.pk, plain.pk]
    )
    closed = flag_create(project=project, user=team.annotator, kind=FlagKind.QUALITY, example_ids=[plain.pk])
    closed.status = "dismissed"
    closed.save()
    return Catalog(approved, imported, duplicate, flagged, plain)


def browse(client: Client, team: Team, query: str = "", **extra: Any) -> str:
    response = client.get(f"/projects/{team.project.pk}/examples/{query}", **extra)
    assert response.status_code == 200
    return text(response)


@pytest.mark.django_db
class TestFilters:
    @pytest.mark.parametrize(
        ("query", "expected"),
        [
            ("", ["plain", "flagged", "duplicate", "imported", "approved"]),
            ("?status=approved", ["approved"]),
            ("?status=submitted", ["plain", "flagged", "imported"]),
            ("?flagged=true", ["plain", "flagged"]),
            ("?flagged=false", ["duplicate", "imported", "approved"]),
            ("?duplicate=true", ["duplicate"]),
            ("?duplicate=false", ["plain", "flagged", "imported", "approved"]),
            ("?q=ALPHA", ["duplicate", "approved"]),
            ("?q=exchange_rate", ["flagged"]),
            ("?source=import:rows.jsonl", ["imported"]),
            ("?q=alpha&duplicate=false", ["approved"]),
            ("?status=rejected", []),
        ],
    )
    def test_each_filter(self, team: Team, catalog: Catalog, query: str, expected: list[str]) -> None:
        page = browse(logged_in(team.annotator), team, query)
        assert row_ids(page) == [getattr(catalog, name).pk for name in expected]
        if not expected:
            assert "No example matches." in page

    def test_by_author(self, team: Team, catalog: Catalog) -> None:
        page = browse(logged_in(team.annotator), team, f"?created_by={team.reviewer.username}")
        assert row_ids(page) == [catalog.imported.pk]
        assert f'<td class="muted">{team.reviewer.username}</td>' in page

    def test_the_form_keeps_the_filters(self, team: Team, catalog: Catalog) -> None:
        page = browse(logged_in(team.annotator), team, "?status=draft&q=alpha&duplicate=true")
        assert '<option value="draft" selected>' in page
        assert 'name="q" value="alpha"' in page
        assert '<option value="true" selected>duplicates only</option>' in page
        assert '<span class="badge">dup</span>' in page

    def test_htmx_gets_only_the_rows(self, team: Team, catalog: Catalog) -> None:
        page = browse(logged_in(team.annotator), team, "?q=beta", **HTMX)
        # The rows, and the export form above them that carries the same filters.
        assert page.lstrip().startswith('<form method="post" action="/projects/')
        assert '<input type="hidden" name="q" value="beta">' in page
        assert 'class="filters"' not in page
        assert "<html" not in page
        assert row_ids(page) == [catalog.imported.pk]

    def test_examples_of_another_project_never_show(self, team: Team, catalog: Catalog) -> None:
        other = ProjectFactory.create()
        MembershipFactory.create(project=other, user=team.annotator)
        stranger = ExampleFactory.create(project=other, input="alpha refund")
        page = browse(logged_in(team.annotator), team, "?q=alpha")
        assert stranger.pk not in row_ids(page)

    @pytest.mark.parametrize(
        "query", ["?status=nonsense", "?flagged=maybe", "?duplicate=2", "?q=a%00b", "?before=abc"]
    )
    def test_a_bad_filter_value_is_a_client_error_not_a_crash(
        self, team: Team, catalog: Catalog, query: str
    ) -> None:
        response = logged_in(team.annotator, raise_errors=False).get(
            f"/projects/{team.project.pk}/examples/{query}"
        )
        assert response.status_code in (200, 400)


@pytest.mark.django_db
class TestKeysetPages:
    def test_older_examples_walks_every_page_once(self, team: Team) -> None:
        # Given 120 examples
        ExampleFactory.create_batch(120, project=team.project)
        client = logged_in(team.annotator)
        # When the annotator follows "Older examples" until it is gone
        seen: list[int] = []
        query: str | None = ""
        pages = 0
        while query is not None:
            page = browse(client, team, query)
            ids = row_ids(page)
            assert 0 < len(ids) <= 50
            seen += ids
            pages += 1
            query = older_link(page)
        # Then every example was shown once, newest first, in three pages
        assert pages == 3
        assert len(seen) == len(set(seen)) == 120
        assert seen == sorted(seen, reverse=True)
        assert set(seen) == set(team.project.examples.values_list("pk", flat=True))

    def test_the_link_keeps_the_filters(self, team: Team) -> None:
        # Given 60 submitted examples by the reviewer among drafts and other authors' examples
        author = team.reviewer
        ExampleFactory.create_batch(60, project=team.project, created_by=author)
        ExampleFactory.create_batch(30, project=team.project, created_by=author, status="draft")
        ExampleFactory.create_batch(30, project=team.project, created_by=UserFactory.create())
        client = logged_in(team.annotator)
        # When they filter and page
        first = browse(client, team, f"?status=submitted&created_by={author.username}")
        link = older_link(first)
        assert link is not None
        assert "status=submitted" in link and f"created_by={author.username}" in link
        second = browse(client, team, link)
        # Then the second page continues the same filtered list
        ids = row_ids(first) + row_ids(second)
        assert len(ids) == len(set(ids)) == 60
        wanted = team.project.examples.filter(status=ExampleStatus.SUBMITTED, created_by=author)
        assert set(ids) == set(wanted.values_list("pk", flat=True))
        assert older_link(second) is None

    def test_the_link_encodes_the_search_text(self, team: Team) -> None:
        for index in range(55):
            ExampleFactory.create(project=team.project, input=f"fees & charges #{index}")
        ExampleFactory.create_batch(5, project=team.project)
        client = logged_in(team.annotator)
        first = browse(client, team, "?q=%26+charges+%23")
        link = older_link(first)
        assert link is not None and "q=%26%20charges%20%23" in link
        ids = row_ids(first) + row_ids(browse(client, team, link))
        assert len(ids) == len(set(ids)) == 55

    def test_exactly_one_page_has_no_older_link(self, team: Team) -> None:
        ExampleFactory.create_batch(50, project=team.project)
        page = browse(logged_in(team.annotator), team)
        assert len(row_ids(page)) == 50 and older_link(page) is None


@pytest.mark.django_db
class TestBrowseCost:
    def count(self, client: Client, url: str, **extra: Any) -> int:
        """Queries a request makes, not counting the search time bound's own statements (a
        savepoint and a statement_timeout on PostgreSQL, a fixed four, never a row's)."""
        with CaptureQueriesContext(connection) as queries:
            assert client.get(url, **extra).status_code == 200
        bound = ("SAVEPOINT", "RELEASE SAVEPOINT", "SET LOCAL statement_timeout")
        return len([query for query in queries if not query["sql"].startswith(bound)])

    def test_a_page_costs_the_same_few_queries_with_3_or_50_rows(
        self, team: Team, django_assert_max_num_queries: MaxQueries
    ) -> None:
        # Given a few examples, each with an author
        for _ in range(3):
            ExampleFactory.create(project=team.project, created_by=UserFactory.create())
        client = logged_in(team.annotator)
        url = f"/projects/{team.project.pk}/examples/"
        small = self.count(client, url)
        # When the project grows past a page, with a different author on every row
        for _ in range(60):
            ExampleFactory.create(project=team.project, created_by=UserFactory.create())
        # Then a full page costs what the small one did, and only a handful of queries
        with django_assert_max_num_queries(7):
            response = client.get(url)
        assert len(row_ids(text(response))) == 50
        assert self.count(client, url) == small
        assert self.count(client, url + "?status=submitted&flagged=false&q=card") == small
