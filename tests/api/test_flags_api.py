"""Behaviour of the flags API: raising flags, listing them, resolving contradictions."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from curation.models import Example, ExampleStatus, Flag, FlagStatus, Review
from curation.services.flags import flag_create
from tests.api.support import error_fields
from tests.conftest import Team
from tests.factories import ExampleFactory, ProjectFactory

if TYPE_CHECKING:
    from rest_framework.response import _MonkeyPatchedResponse as Response

pytestmark = pytest.mark.django_db

ClientFor = Callable[[User | None], APIClient]


QUERY_BOUND = 6  # token, project, role, page, memberships prefetch; an N+1 even at 5 rows exceeds it


def flags_url(team: Team) -> str:
    return f"/api/projects/{team.project.pk}/flags/"


def resolve_url(flag_id: int) -> str:
    return f"/api/flags/{flag_id}/resolve/"


def raise_flag(client: APIClient, team: Team, kind: str, examples: list[Example], note: str = "") -> Response:
    body: dict[str, Any] = {"kind": kind, "examples": [example.pk for example in examples]}
    if note:
        body["note"] = note
    return client.post(flags_url(team), body, format="json")


@pytest.fixture
def pair(team: Team) -> tuple[Example, Example]:
    """Two submitted examples that disagree: same question, different labels."""
    first = ExampleFactory.create(project=team.project, input="My card hasn't come", output="card_arrival")
    second = ExampleFactory.create(
        project=team.project, input="My card hasn't come!", output="lost_or_stolen_card"
    )
    return first, second


class TestRaise:
    def test_contradiction_names_two_examples_in_order(
        self, team: Team, client_for: ClientFor, pair: tuple[Example, Example]
    ) -> None:
        # Given two disagreeing examples
        first, second = pair

        # When an annotator flags them as a contradiction, second one first
        response = raise_flag(
            client_for(team.annotator), team, "contradiction", [second, first], "They disagree"
        )

        # Then the flag is open, raised by the user, and keeps the order given
        assert response.status_code == 201, response.content
        data = response.json()
        assert data["examples"] == [second.pk, first.pk]
        assert (data["kind"], data["status"], data["raised_by"]) == ("contradiction", "open", "user")
        assert data["created_by"] == team.annotator.username
        assert data["note"] == "They disagree"
        assert data["project"] == team.project.pk

    @pytest.mark.parametrize("count", [1, 3])
    def test_contradiction_with_other_than_two_examples_is_400(
        self, team: Team, client_for: ClientFor, count: int
    ) -> None:
        # Given some examples
        examples = ExampleFactory.create_batch(count, project=team.project)

        # When a contradiction names `count` of them
        response = raise_flag(client_for(team.annotator), team, "contradiction", examples)

        # Then it is refused naming examples, and no flag exists
        assert response.status_code == 400
        assert error_fields(response) == ["examples"]
        assert not Flag.objects.exists()

    @pytest.mark.parametrize("count", [1, 3])
    def test_other_kinds_take_any_number(self, team: Team, client_for: ClientFor, count: int) -> None:
        # Given some examples
        examples = ExampleFactory.create_batch(count, project=team.project)

        # When a quality flag names them
        response = raise_flag(client_for(team.annotator), team, "quality", examples)

        # Then it is raised on all of them
        assert response.status_code == 201, response.content
        assert response.json()["examples"] == [example.pk for example in examples]

    def test_a_disagreement_is_not_raised_by_hand(self, team: Team, client_for: ClientFor) -> None:
        # A disagreement flag is the labeling queue's: its examples are one input's answers
        examples = ExampleFactory.create_batch(2, project=team.project)
        response = raise_flag(client_for(team.lead), team, "disagreement", examples)
        assert response.status_code == 400 and error_fields(response) == ["kind"]
        assert "come from the labeling queue" in response.json()["detail"]
        assert not Flag.objects.exists()

    def test_example_of_another_project_is_400(self, team: Team, client_for: ClientFor) -> None:
        # Given one example here and one in another project
        here = ExampleFactory.create(project=team.project)
        elsewhere = ExampleFactory.create(project=ProjectFactory.create())

        # When a contradiction names both
        response = raise_flag(client_for(team.annotator), team, "contradiction", [here, elsewhere])

        # Then it is refused naming the foreign id
        assert response.status_code == 400
        assert error_fields(response) == ["examples"]
        assert str(elsewhere.pk) in response.json()["detail"]
        assert not Flag.objects.exists()

    @pytest.mark.parametrize("content_type", ["multipart", "urlencoded"])
    def test_form_with_too_many_fields_is_400_in_the_standard_body(
        self, team: Team, client_for: ClientFor, settings: Any, content_type: str
    ) -> None:
        # Given a form body with more fields than Django parses (found by the schema fuzzer: it
        # answered Django's HTML 400 page)
        settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 10
        ids = list(range(1, 12))
        client = client_for(team.annotator)

        # When a flag is raised with it
        if content_type == "multipart":
            response = client.post(flags_url(team), {"kind": "quality", "examples": ids}, format="multipart")
        else:
            body = "&".join(["kind=quality", *(f"examples={id_}" for id_ in ids)])
            response = client.post(flags_url(team), body, content_type="application/x-www-form-urlencoded")

        # Then it is refused in the API's error body, naming the limit
        assert response.status_code == 400, response.content[:300]
        assert error_fields(response) == [None]
        assert "DATA_UPLOAD_MAX_NUMBER_FIELDS" in response.json()["detail"]
        assert not Flag.objects.exists()

    def test_same_open_flag_twice_is_409(
        self, team: Team, client_for: ClientFor, pair: tuple[Example, Example]
    ) -> None:
        # Given an open contradiction flag on a pair
        first, second = pair
        client = client_for(team.annotator)
        assert raise_flag(client, team, "contradiction", [first, second]).status_code == 201

        # When the same pair is flagged again, in either order
        again = raise_flag(client, team, "contradiction", [first, second])
        reversed_ = raise_flag(client, team, "contradiction", [second, first])

        # Then both are refused with 409 and one flag exists
        assert again.status_code == reversed_.status_code == 409
        error_fields(again)
        assert Flag.objects.count() == 1

    def test_same_examples_may_be_flagged_again_once_closed(
        self, team: Team, client_for: ClientFor, pair: tuple[Example, Example]
    ) -> None:
        # Given a contradiction flag on a pair that was dismissed
        first, second = pair
        flag = raise_flag(client_for(team.annotator), team, "contradiction", [first, second]).json()
        client_for(team.reviewer).post(resolve_url(flag["id"]), {"resolution": "dismiss"}, format="json")

        # When the pair is flagged again
        response = raise_flag(client_for(team.annotator), team, "contradiction", [first, second])

        # Then a new open flag is raised
        assert response.status_code == 201, response.content
        assert response.json()["id"] != flag["id"]


class TestList:
    @pytest.fixture
    def flags(self, team: Team, pair: tuple[Example, Example]) -> dict[str, Flag]:
        first, second = pair
        third = ExampleFactory.create(project=team.project)
        named = {
            "contradiction": flag_create(
                project=team.project,
                user=team.annotator,
                kind="contradiction",
                example_ids=[first.pk, second.pk],
            ),
            "quality": flag_create(
                project=team.project, user=team.reviewer, kind="quality", example_ids=[third.pk]
            ),
            "by_job": flag_create(
                project=team.project, user=None, kind="format", example_ids=[first.pk], job="validation-job:1"
            ),
            "dismissed": flag_create(
                project=team.project, user=team.lead, kind="pii", example_ids=[third.pk]
            ),
        }
        Flag.objects.filter(pk=named["dismissed"].pk).update(status=FlagStatus.DISMISSED)
        other = ExampleFactory.create(project=ProjectFactory.create())
        flag_create(project=other.project, user=None, kind="quality", example_ids=[other.pk])
        return named

    @pytest.mark.parametrize(
        ("query", "expected"),
        [
            ({}, ["contradiction", "quality", "by_job", "dismissed"]),
            ({"kind": "contradiction"}, ["contradiction"]),
            ({"kind": "format"}, ["by_job"]),
            ({"status": "open"}, ["contradiction", "quality", "by_job"]),
            ({"status": "dismissed"}, ["dismissed"]),
            ({"status": "resolved"}, []),
            ({"raised_by": "job"}, ["by_job"]),
            ({"raised_by": "user"}, ["contradiction", "quality", "dismissed"]),
            ({"raised_by": "user", "status": "open", "kind": "quality"}, ["quality"]),
            ({"job": "validation-job:1"}, ["by_job"]),
            ({"job": "validation-job:2"}, []),
        ],
    )
    def test_filters(
        self,
        team: Team,
        client_for: ClientFor,
        flags: dict[str, Flag],
        query: dict[str, str],
        expected: list[str],
    ) -> None:
        # Given flags of several kinds, states and origins (and one in another project)
        # When the list is filtered
        response = client_for(team.annotator).get(flags_url(team), query)

        # Then exactly the matching flags of this project come back, newest first
        assert response.status_code == 200, response.content
        got = [item["id"] for item in response.json()["results"]]
        assert got == sorted((flags[name].pk for name in expected), reverse=True)

    def test_job_flag_shows_its_job(self, team: Team, client_for: ClientFor, flags: dict[str, Flag]) -> None:
        # When the job-raised flag is read
        data = client_for(team.annotator).get(f"/api/flags/{flags['by_job'].pk}/").json()

        # Then it says a job raised it, and which
        assert (data["raised_by"], data["job"], data["created_by"]) == ("job", "validation-job:1", None)

    @pytest.mark.parametrize("rows", [5, 50])
    def test_list_queries_do_not_grow_with_page_size(
        self, team: Team, client_for: ClientFor, django_assert_max_num_queries: Any, rows: int
    ) -> None:
        # Given `rows` flags, each on its own pair of examples, some resolved
        examples = ExampleFactory.create_batch(rows + 1, project=team.project)
        for index in range(rows):
            flag = flag_create(
                project=team.project,
                user=team.annotator,
                kind="contradiction",
                example_ids=[examples[index].pk, examples[index + 1].pk],
            )
            if index % 2:
                Flag.objects.filter(pk=flag.pk).update(status=FlagStatus.RESOLVED, resolved_by=team.lead)
        client = client_for(team.annotator)

        # When a page of `rows` flags is listed
        with django_assert_max_num_queries(QUERY_BOUND):
            response = client.get(flags_url(team), {"page_size": rows})

        # Then the queries stay under one bound, and each flag names its examples
        results = response.json()["results"]
        assert len(results) == rows
        assert all(len(item["examples"]) == 2 for item in results)


class TestResolve:
    @pytest.fixture
    def contradiction(self, team: Team, pair: tuple[Example, Example]) -> Flag:
        first, second = pair
        return flag_create(
            project=team.project, user=team.annotator, kind="contradiction", example_ids=[first.pk, second.pk]
        )

    @pytest.mark.parametrize(("resolution", "loser", "winner"), [("keep_first", 1, 0), ("keep_second", 0, 1)])
    def test_keep_one_rejects_the_other(
        self,
        team: Team,
        client_for: ClientFor,
        pair: tuple[Example, Example],
        contradiction: Flag,
        resolution: str,
        loser: int,
        winner: int,
    ) -> None:
        # Given an open contradiction between two submitted examples
        client = client_for(team.reviewer)

        # When a reviewer resolves it keeping one
        response = client.post(
            resolve_url(contradiction.pk),
            {"resolution": resolution, "note": "Checked the ticket"},
            format="json",
        )

        # Then the flag is resolved, the other example is rejected with a review, the kept one is untouched
        assert response.status_code == 200, response.content
        data = response.json()
        assert (data["status"], data["resolution"], data["resolution_note"]) == (
            "resolved",
            resolution,
            "Checked the ticket",
        )
        assert data["resolved_by"] == team.reviewer.username
        assert data["resolved_at"] is not None
        rejected = client.get(f"/api/examples/{pair[loser].pk}/").json()
        kept = client.get(f"/api/examples/{pair[winner].pk}/").json()
        assert (rejected["status"], rejected["revision"]) == ("rejected", 2)
        assert (kept["status"], kept["revision"]) == ("submitted", 1)
        reviews = client.get(f"/api/examples/{pair[loser].pk}/reviews/").json()["results"]
        assert [(item["decision"], item["reviewer"]) for item in reviews] == [
            ("reject", team.reviewer.username)
        ]
        assert str(contradiction.pk) in reviews[0]["comment"]
        assert not Review.objects.filter(example=pair[winner]).exists()
        history = client.get(f"/api/examples/{pair[loser].pk}/history/").json()["results"]
        assert (history[0]["revision"], history[0]["status"], history[0]["change"]) == (
            2,
            "rejected",
            "flag_resolved",
        )

    def test_resolved_contradiction_no_longer_counts_as_flagged(
        self, team: Team, client_for: ClientFor, pair: tuple[Example, Example], contradiction: Flag
    ) -> None:
        # Given a contradiction that was resolved keeping the first
        client = client_for(team.reviewer)
        client.post(resolve_url(contradiction.pk), {"resolution": "keep_first"}, format="json")

        # When flagged examples are listed
        response = client.get(f"/api/projects/{team.project.pk}/examples/", {"flagged": "true"})

        # Then neither example is flagged any more
        assert response.json()["results"] == []

    def test_dismiss(
        self, team: Team, client_for: ClientFor, pair: tuple[Example, Example], contradiction: Flag
    ) -> None:
        # Given an open contradiction
        client = client_for(team.reviewer)

        # When it is dismissed
        response = client.post(resolve_url(contradiction.pk), {"resolution": "dismiss"}, format="json")

        # Then it is dismissed and both examples keep their status
        assert response.status_code == 200, response.content
        assert (response.json()["status"], response.json()["resolution"]) == ("dismissed", "dismiss")
        for example in pair:
            example.refresh_from_db()
            assert (example.status, example.revision) == (ExampleStatus.SUBMITTED, 1)

    @pytest.mark.parametrize("resolution", ["keep_both", "edited"])
    def test_keeping_both_rejects_nothing(
        self,
        team: Team,
        client_for: ClientFor,
        pair: tuple[Example, Example],
        contradiction: Flag,
        resolution: str,
    ) -> None:
        # When the contradiction is resolved without choosing
        response = client_for(team.reviewer).post(
            resolve_url(contradiction.pk), {"resolution": resolution}, format="json"
        )

        # Then it is resolved and neither example is rejected
        assert response.status_code == 200, response.content
        assert response.json()["status"] == "resolved"
        assert not Example.objects.filter(status=ExampleStatus.REJECTED).exists()

    def test_resolving_twice_is_409(
        self, team: Team, client_for: ClientFor, pair: tuple[Example, Example], contradiction: Flag
    ) -> None:
        # Given a contradiction resolved keeping the first
        client = client_for(team.reviewer)
        assert (
            client.post(
                resolve_url(contradiction.pk), {"resolution": "keep_first"}, format="json"
            ).status_code
            == 200
        )

        # When it is resolved again keeping the second
        response = client.post(resolve_url(contradiction.pk), {"resolution": "keep_second"}, format="json")

        # Then it is refused with 409: the first is still submitted, the flag keeps its first resolution
        assert response.status_code == 409
        error_fields(response)
        first, second = pair
        first.refresh_from_db()
        second.refresh_from_db()
        assert (first.status, second.status) == (ExampleStatus.SUBMITTED, ExampleStatus.REJECTED)
        contradiction.refresh_from_db()
        assert contradiction.resolution == "keep_first"

    @pytest.mark.parametrize("resolution", ["keep_first", "keep_second"])
    def test_keep_one_on_other_kinds_is_400(self, team: Team, client_for: ClientFor, resolution: str) -> None:
        # Given an open duplicate flag on two examples
        examples = ExampleFactory.create_batch(2, project=team.project)
        flag = flag_create(
            project=team.project, user=team.annotator, kind="duplicate", example_ids=[e.pk for e in examples]
        )

        # When it is resolved as keep_first / keep_second
        response = client_for(team.reviewer).post(
            resolve_url(flag.pk), {"resolution": resolution}, format="json"
        )

        # Then it is refused naming resolution, the flag stays open and nothing is rejected
        assert response.status_code == 400
        assert error_fields(response) == ["resolution"]
        flag.refresh_from_db()
        assert flag.status == FlagStatus.OPEN
        assert not Example.objects.filter(status=ExampleStatus.REJECTED).exists()

    def test_unknown_resolution_is_400(self, team: Team, client_for: ClientFor, contradiction: Flag) -> None:
        # When a flag is resolved with a made-up resolution
        response = client_for(team.reviewer).post(
            resolve_url(contradiction.pk), {"resolution": "merge"}, format="json"
        )

        # Then it is refused naming resolution
        assert response.status_code == 400
        assert error_fields(response) == ["resolution"]
