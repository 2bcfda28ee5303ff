"""The review queue: one card at a time over htmx, decisions, conflicts, navigation, cost."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from curation.models import Example, ExampleStatus, Review
from tests.conftest import Team
from tests.curation.ui_support import HTMX, edited, logged_in, reviewed, text, written
from tests.factories import ExampleFactory, UserFactory

MaxQueries = Callable[[int], AbstractContextManager[CaptureQueriesContext]]


def queue_url(team: Team, query: str = "") -> str:
    return f"/projects/{team.project.pk}/review/{query}"


def card_of(page: str) -> int | None:
    """The id of the example on the review card, or None when the card is empty."""
    marker = 'data-review-card data-example="'
    if marker not in page:
        return None
    start = page.index(marker) + len(marker)
    return int(page[start : page.index('"', start)])


def decide(
    client: Client, example: Example, decision: str, comment: str = "", revision: int | None = None
) -> Any:
    """Post a decision from the review card, as htmx does, on the revision read (or the current one)."""
    data = {"decision": decision, "comment": comment, "revision": str(revision or example.revision)}
    return client.post(f"/examples/{example.pk}/review/", data, **HTMX)


@pytest.fixture
def queue(team: Team) -> list[Example]:
    """Three submitted examples, in id order, between a draft and an approved one."""
    written(team.project, team.annotator, "A draft", "", status=ExampleStatus.DRAFT)
    waiting = [
        written(team.project, team.annotator, "First question", "card_arrival"),
        written(team.project, team.annotator, "Second question", "card_linking"),
    ]
    written(team.project, team.lead, "Already approved", "exchange_rate", status="approved")
    waiting.append(written(team.project, team.annotator, "Third question", "exchange_rate"))
    return waiting


@pytest.mark.django_db
class TestQueuePage:
    def test_shows_the_oldest_submitted_example(self, team: Team, queue: list[Example]) -> None:
        page = text(logged_in(team.reviewer).get(queue_url(team)))
        assert "<h1>Review</h1>" in page and 'id="review-card"' in page
        assert card_of(page) == queue[0].pk
        assert "First question" in page and "3 waiting" in page
        assert f'hx-post="/examples/{queue[0].pk}/review/"' in page
        assert f'name="revision" value="{queue[0].revision}"' in page

    def test_an_empty_queue_says_so(self, team: Team) -> None:
        written(team.project, team.annotator, "A draft", "", status=ExampleStatus.DRAFT)
        page = text(logged_in(team.reviewer).get(queue_url(team)))
        assert card_of(page) is None
        assert "Nothing left to review." in page

    def test_a_chat_example_shows_its_messages(self, team: Team) -> None:
        team.project.task_type = "chat"
        team.project.labels = []
        team.project.save()
        messages = [{"role": "system", "content": "Be kind."}, {"role": "user", "content": "Hello?"}]
        written(team.project, team.annotator, messages, "Hi!")
        page = text(logged_in(team.reviewer).get(queue_url(team)))
        assert '<li class="system"><b>system</b> Be kind.</li>' in page
        assert '<li class="user"><b>user</b> Hello?</li>' in page


@pytest.mark.django_db
class TestDecisions:
    @pytest.mark.parametrize(
        ("decision", "comment", "status"),
        [
            ("approve", "", ExampleStatus.APPROVED),
            ("reject", "Off topic.", ExampleStatus.REJECTED),
            ("request_changes", "Use card_linking.", ExampleStatus.NEEDS_CHANGES),
        ],
    )
    def test_a_decision_returns_the_next_card(
        self, team: Team, queue: list[Example], decision: str, comment: str, status: str
    ) -> None:
        # Given a reviewer on the first card
        client = logged_in(team.reviewer)
        first = queue[0]
        # When they decide over htmx
        response = decide(client, first, decision, comment)
        # Then the decision is recorded on the revision they saw
        assert response.status_code == 200
        first.refresh_from_db()
        assert first.status == status and first.revision == 2
        review = Review.objects.get(example=first)
        assert (review.decision, review.comment, review.revision, review.reviewer) == (
            decision,
            comment,
            1,
            team.reviewer,
        )
        # And only the next card comes back (no full page)
        page = text(response)
        assert "<html" not in page and page.lstrip().startswith('<div class="review" data-review-card')
        assert card_of(page) == queue[1].pk
        assert f"Example {first.pk}: {status.replace('_', ' ')}." in page
        assert "2 waiting" in page

    def test_request_changes_without_a_comment_is_refused(self, team: Team, queue: list[Example]) -> None:
        response = decide(logged_in(team.reviewer), queue[0], "request_changes", "   ")
        page = text(response)
        assert response.status_code == 200
        assert (
            '<p class="message error" role="alert">Say what should change: a comment is required.</p>' in page
        )
        assert card_of(page) == queue[0].pk  # the same card stays
        queue[0].refresh_from_db()
        assert queue[0].status == ExampleStatus.SUBMITTED
        assert not Review.objects.exists()

    def test_an_unknown_decision_is_refused(self, team: Team, queue: list[Example]) -> None:
        page = text(decide(logged_in(team.reviewer), queue[0], "maybe"))
        assert "Unknown decision &#x27;maybe&#x27;" in page
        assert not Review.objects.exists()

    def test_a_second_reviewer_gets_a_conflict_not_an_overwrite(
        self, team: Team, queue: list[Example]
    ) -> None:
        # Given two reviewers who opened the same card at revision 1
        first = queue[0]
        slow = logged_in(team.reviewer)
        assert card_of(text(slow.get(queue_url(team)))) == first.pk
        fast = logged_in(team.lead)
        # When one approves, then the other rejects what they read
        assert decide(fast, first, "approve").status_code == 200
        response = decide(slow, first, "reject", "Nope.", revision=1)
        # Then the second gets a clear conflict message on the current version
        page = text(response)
        assert response.status_code == 200
        assert "Someone changed or reviewed this example while you were reading it." in page
        assert card_of(page) == first.pk
        assert 'name="revision" value="2"' in page
        # And the first decision stands, with no second review recorded
        first.refresh_from_db()
        assert first.status == ExampleStatus.APPROVED
        assert list(Review.objects.values_list("reviewer", "decision")) == [(team.lead.pk, "approve")]

    def test_an_edit_while_reading_shows_the_new_content(self, team: Team, queue: list[Example]) -> None:
        first = queue[0]
        client = logged_in(team.reviewer)
        client.get(queue_url(team))
        edited(first, team.annotator, input="First question, reworded")
        page = text(decide(client, first, "approve", revision=1))
        assert "Someone changed or reviewed this example" in page
        assert "First question, reworded" in page
        first.refresh_from_db()
        assert first.status == ExampleStatus.SUBMITTED and not Review.objects.exists()

    def test_deciding_the_last_card_empties_the_queue(self, team: Team) -> None:
        only = written(team.project, team.annotator, "Alone", "card_arrival")
        page = text(decide(logged_in(team.reviewer), only, "approve"))
        assert f"Example {only.pk}: approved." in page
        assert card_of(page) is None and "Nothing left to review." in page

    def test_the_card_shows_the_history_as_a_diff(self, team: Team) -> None:
        example = written(team.project, team.annotator, "Where is my card?", "card_linking")
        reviewed(example, team.reviewer, "request_changes", "Wrong label.")
        edited(example, team.annotator, output="card_arrival", status=ExampleStatus.SUBMITTED)
        page = text(logged_in(team.reviewer).get(queue_url(team)))
        assert "<summary>History</summary>" in page
        assert "<del>card_linking</del> <ins>card_arrival</ins>" in page
        assert "r3 · edited · submitted" in page and "r2 · reviewed · needs changes" in page


@pytest.mark.django_db
class TestNavigation:
    def test_skip_and_next_go_forward_in_id_order(self, team: Team, queue: list[Example]) -> None:
        client = logged_in(team.reviewer)
        page = text(client.get(queue_url(team, f"?after={queue[0].pk}"), **HTMX))
        assert "<html" not in page and card_of(page) == queue[1].pk
        # The approved example between them is not in the queue
        page = text(client.get(queue_url(team, f"?after={queue[1].pk}"), **HTMX))
        assert card_of(page) == queue[2].pk
        page = text(client.get(queue_url(team, f"?after={queue[2].pk}"), **HTMX))
        assert card_of(page) is None and "Nothing left to review." in page
        # And skipping decides nothing
        assert not Review.objects.exists()

    def test_the_card_links_skip_next_and_previous(self, team: Team, queue: list[Example]) -> None:
        page = text(logged_in(team.reviewer).get(queue_url(team, f"?after={queue[0].pk}"), **HTMX))
        assert f'hx-get="{queue_url(team)}?after={queue[1].pk}"' in page
        assert f'hx-get="{queue_url(team)}?before={queue[1].pk}"' in page

    def test_previous_goes_back_and_stops_at_the_first(self, team: Team, queue: list[Example]) -> None:
        client = logged_in(team.reviewer)
        page = text(client.get(queue_url(team, f"?before={queue[2].pk}"), **HTMX))
        assert card_of(page) == queue[1].pk
        page = text(client.get(queue_url(team, f"?before={queue[1].pk}"), **HTMX))
        assert card_of(page) == queue[0].pk
        page = text(client.get(queue_url(team, f"?before={queue[0].pk}"), **HTMX))
        assert card_of(page) == queue[0].pk

    def test_a_plain_get_with_after_is_a_full_page(self, team: Team, queue: list[Example]) -> None:
        page = text(logged_in(team.reviewer).get(queue_url(team, f"?after={queue[0].pk}")))
        assert "<h1>Review</h1>" in page and card_of(page) == queue[1].pk

    @pytest.mark.parametrize("query", ["?after=abc", "?before=-3", "?after=99999999999999999999999"])
    def test_a_bad_position_starts_from_the_top(self, team: Team, queue: list[Example], query: str) -> None:
        response = logged_in(team.reviewer).get(queue_url(team, query))
        assert response.status_code == 200 and card_of(text(response)) == queue[0].pk


@pytest.mark.django_db
class TestReviewCost:
    def count(self, client: Client, url: str) -> int:
        with CaptureQueriesContext(connection) as queries:
            assert client.get(url, **HTMX).status_code == 200
        return len(queries)

    def test_a_card_costs_a_bounded_number_of_queries(
        self, team: Team, django_assert_max_num_queries: MaxQueries
    ) -> None:
        # Given a card with no history, and a card with a long history by many editors
        plain = written(team.project, team.annotator, "Plain", "card_arrival")
        busy = written(team.project, team.annotator, "Busy", "card_arrival")
        for index in range(8):
            label = "card_linking" if index % 2 == 0 else "card_arrival"
            edited(busy, UserFactory.create(), output=label, status=ExampleStatus.SUBMITTED)
        ExampleFactory.create_batch(30, project=team.project)
        client = logged_in(team.reviewer)
        # When each is shown
        plain_cost = self.count(client, queue_url(team, f"?after={plain.pk - 1}"))
        with django_assert_max_num_queries(12):  # 10, and the card's open flags and clusters
            page = text(client.get(queue_url(team, f"?after={busy.pk - 1}"), **HTMX))
        # Then the long history costs the same as none
        assert card_of(page) == busy.pk and page.count("<li>") == 9
        assert self.count(client, queue_url(team, f"?after={busy.pk - 1}")) <= plain_cost + 2

    def test_a_decision_costs_a_bounded_number_of_queries(
        self, team: Team, queue: list[Example], django_assert_max_num_queries: MaxQueries
    ) -> None:
        client = logged_in(team.reviewer)
        with django_assert_max_num_queries(18):  # 16, and the next card's open flags and clusters
            decide(client, queue[0], "approve")


@pytest.mark.django_db
class TestSeparationOfDuties:
    def test_a_reviewers_queue_skips_what_they_wrote_or_last_edited(self, team: Team) -> None:
        # Given the reviewer's own example, one they last edited, and an annotator's
        own = written(team.project, team.reviewer, "Mine", "card_arrival")
        touched = edited(
            written(team.project, team.annotator, "Touched", "card_arrival"),
            team.reviewer,
            output="card_linking",
        )
        other = written(team.project, team.annotator, "Theirs", "card_arrival")
        # Then the reviewer's queue holds only the annotator's, and the lead's all three
        page = text(logged_in(team.reviewer).get(queue_url(team)))
        assert card_of(page) == other.pk and "1 waiting" in page
        lead_page = text(logged_in(team.lead).get(queue_url(team)))
        assert card_of(lead_page) == own.pk and "3 waiting" in lead_page
        assert touched.status == ExampleStatus.SUBMITTED

    def test_deciding_ones_own_example_names_the_rule_and_changes_nothing(self, team: Team) -> None:
        own = written(team.project, team.reviewer, "Mine", "card_arrival")
        page = text(decide(logged_in(team.reviewer), own, "approve"))
        assert "Separation of duties" in page
        own.refresh_from_db()
        assert own.status == ExampleStatus.SUBMITTED and not Review.objects.exists()

    def test_with_the_setting_off_the_reviewer_sees_and_decides_their_own(self, team: Team) -> None:
        team.project.reviewers_may_not_review_own = False
        team.project.save()
        own = written(team.project, team.reviewer, "Mine", "card_arrival")
        client = logged_in(team.reviewer)
        assert card_of(text(client.get(queue_url(team)))) == own.pk
        decide(client, own, "approve")
        own.refresh_from_db()
        assert own.status == ExampleStatus.APPROVED
