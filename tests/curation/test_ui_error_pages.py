"""Error pages wear the site's layout and offer a way back; a bad filter is named on the page."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import pytest
from django.core.exceptions import SuspiciousOperation
from django.test import RequestFactory
from django.views.defaults import bad_request, server_error

from tests.conftest import Team
from tests.curation.ui_support import logged_in

WAY_BACK = "Back to your projects"


def styled(body: str) -> bool:
    """The site's layout (top bar, stylesheet) and a link home."""
    return 'class="topbar"' in body and "finch/finch.css" in body and WAY_BACK in body


@pytest.mark.django_db
class TestErrorPages:
    @pytest.mark.parametrize("path", ["/projects/999999/", "/examples/abc/", "/no/such/page/"])
    def test_404_is_the_styled_page(self, team: Team, path: str) -> None:
        response = logged_in(team.annotator, raise_errors=False).get(path)
        body = response.content.decode()
        assert response.status_code == 404 and styled(body), body[:400]
        assert "Page not found" in body and "Resolver404" not in body

    def test_a_missing_project_says_so(self, team: Team) -> None:
        body = logged_in(team.annotator, raise_errors=False).get("/projects/999999/").content.decode()
        assert "No such project" in body

    def test_403_is_the_styled_page(self, team: Team) -> None:
        response = logged_in(team.annotator, raise_errors=False).get(f"/projects/{team.project.pk}/settings/")
        assert response.status_code == 403 and styled(response.content.decode())
        assert "Not allowed" in response.content.decode()

    def test_400_is_the_styled_page(self, team: Team) -> None:
        response = logged_in(team.lead, raise_errors=False).get(
            f"/projects/{team.project.pk}/flags/?status=bogus"
        )
        body = response.content.decode()
        assert response.status_code == 400 and styled(body) and "bogus" in body
        assert response["Content-Type"].startswith("text/html")

    def test_djangos_400_and_500_render_without_a_request_context_or_the_database(
        self, django_assert_num_queries: Callable[[int], AbstractContextManager[Any]]
    ) -> None:
        request = RequestFactory().get("/")
        with django_assert_num_queries(0):
            errors = [server_error(request), bad_request(request, SuspiciousOperation("odd"))]
        assert [e.status_code for e in errors] == [500, 400]
        assert all(styled(e.content.decode()) for e in errors)


@pytest.mark.django_db
class TestBadFilterOnTheBrowsePage:
    def test_the_filter_error_is_shown_beside_the_filters(self, team: Team) -> None:
        response = logged_in(team.annotator, raise_errors=False).get(
            f"/projects/{team.project.pk}/examples/?status=bogus"
        )
        body = response.content.decode()
        assert response.status_code == 400 and response["Content-Type"].startswith("text/html")
        assert 'class="filters"' in body and 'data-testid="filter-error"' in body
        assert "Unknown status" in body and "bogus" in body and 'class="topbar"' in body
