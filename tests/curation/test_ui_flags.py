"""Flag a contradiction: search, compare side by side, raise; reviewers resolve."""

from __future__ import annotations

import pytest

from curation.models import Example, ExampleStatus, Flag, FlagKind, FlagStatus, Review
from curation.services.flags import flag_create
from tests.conftest import Team
from tests.curation.ui_support import HTMX, followed_text, logged_in, text, written
from tests.factories import ExampleFactory, MembershipFactory, ProjectFactory


@pytest.fixture
def pair(team: Team) -> tuple[Example, Example]:
    """Two examples that answer nearly the same input with different labels."""
    first = written(team.project, team.annotator, "my card is lost", "lost_or_stolen_card")
    second = written(team.project, team.reviewer, "my card is lost today", "card_arrival")
    return first, second


def contradiction(team: Team, first: Example, second: Example, note: str = "") -> Flag:
    return flag_create(
        project=team.project,
        user=team.annotator,
        kind=FlagKind.CONTRADICTION,
        example_ids=[first.pk, second.pk],
        note=note,
    )


@pytest.mark.django_db
class TestSearch:
    def test_finds_by_the_examples_own_text_and_excludes_it(
        self, team: Team, pair: tuple[Example, Example]
    ) -> None:
        # Given an unrelated example besides the pair
        first, second = pair
        unrelated = written(team.project, team.annotator, "exchange rate please", "exchange_rate")
        # When the annotator starts flagging the first example
        page = text(logged_in(team.annotator).get(f"/examples/{first.pk}/flag/"))
        # Then the search starts from its input and finds the other one, not itself
        assert 'name="q" value="my card is lost"' in page
        assert f"/examples/{first.pk}/flag/compare/?other={second.pk}" in page
        assert f"?other={first.pk}" not in page
        assert f"?other={unrelated.pk}" not in page

    def test_a_typed_search_refreshes_only_the_results(
        self, team: Team, pair: tuple[Example, Example]
    ) -> None:
        first, _ = pair
        unrelated = written(team.project, team.annotator, "exchange rate please", "exchange_rate")
        response = logged_in(team.annotator).get(f"/examples/{first.pk}/flag/?q=RATE", **HTMX)
        page = text(response)
        assert "<html" not in page and page.lstrip().startswith('<table class="grid">')
        assert f"?other={unrelated.pk}" in page

    def test_searches_the_output_too(self, team: Team, pair: tuple[Example, Example]) -> None:
        first, second = pair
        page = text(logged_in(team.annotator).get(f"/examples/{first.pk}/flag/?q=card_arrival"))
        assert f"?other={second.pk}" in page

    def test_no_match_says_so(self, team: Team, pair: tuple[Example, Example]) -> None:
        first, _ = pair
        page = text(logged_in(team.annotator).get(f"/examples/{first.pk}/flag/?q=zebra"))
        assert "No other example contains “zebra”." in page

    def test_stays_inside_the_project(self, team: Team, pair: tuple[Example, Example]) -> None:
        other = ProjectFactory.create()
        MembershipFactory.create(project=other, user=team.annotator)
        stranger = ExampleFactory.create(project=other, input="my card is lost")
        page = text(logged_in(team.annotator).get(f"/examples/{pair[0].pk}/flag/"))
        assert f"?other={stranger.pk}" not in page

    def test_a_bad_search_is_a_client_error_not_a_crash(
        self, team: Team, pair: tuple[Example, Example]
    ) -> None:
        response = logged_in(team.annotator, raise_errors=False).get(f"/examples/{pair[0].pk}/flag/?q=a%00b")
        assert response.status_code in (200, 400)


@pytest.mark.django_db
class TestCompareAndRaise:
    def test_compare_marks_what_each_side_alone_has(self, team: Team, pair: tuple[Example, Example]) -> None:
        first, second = pair
        page = text(logged_in(team.annotator).get(f"/examples/{first.pk}/flag/compare/?other={second.pk}"))
        assert "Do these two contradict each other?" in page
        # The left side marks what only it has as removed, the right what only it has as added
        assert "my card is lost<ins> today</ins>" in page
        assert "<del>lost_or_stolen_card</del>" in page and "<ins>card_arrival</ins>" in page
        assert "<ins>lost_or_stolen_card</ins>" not in page and "<del>card_arrival</del>" not in page
        assert f'href="/examples/{first.pk}/">example {first.pk}</a>' in page
        assert f'href="/examples/{second.pk}/">example {second.pk}</a>' in page
        assert f'name="other" value="{second.pk}"' in page

    def test_raising_the_flag_creates_it(self, team: Team, pair: tuple[Example, Example]) -> None:
        # Given the comparison page
        first, second = pair
        client = logged_in(team.annotator)
        # When the annotator raises the flag with a note
        response = client.post(
            f"/examples/{first.pk}/flag/compare/", {"other": str(second.pk), "note": "Lost, or on its way?"}
        )
        # Then an open contradiction flag names both, in that order, and its page opens
        flag = Flag.objects.get()
        assert (flag.kind, flag.status, flag.note, flag.created_by) == (
            FlagKind.CONTRADICTION,
            FlagStatus.OPEN,
            "Lost, or on its way?",
            team.annotator,
        )
        assert list(flag.memberships.order_by("position").values_list("example_id", flat=True)) == [
            first.pk,
            second.pk,
        ]
        assert response["Location"] == f"/flags/{flag.pk}/"
        page = followed_text(client, response)
        assert f"Flag {flag.pk} raised: a reviewer will resolve it." in page
        assert "Lost, or on its way?" in page
        # And it is listed with the open flags and on both examples
        flags = text(client.get(f"/projects/{team.project.pk}/flags/"))
        assert f'href="/flags/{flag.pk}/"' in flags and "Lost, or on its way?" in flags
        assert f'href="/flags/{flag.pk}/"' in text(client.get(f"/examples/{second.pk}/"))

    def test_the_same_flag_twice_is_refused_with_a_message(
        self, team: Team, pair: tuple[Example, Example]
    ) -> None:
        first, second = pair
        existing = contradiction(team, first, second)
        response = logged_in(team.reviewer).post(
            f"/examples/{second.pk}/flag/compare/", {"other": str(first.pk), "note": ""}
        )
        assert response.status_code == 200
        assert f"An open contradiction flag already names these examples (flag {existing.pk})." in text(
            response
        )
        assert Flag.objects.count() == 1

    def test_an_example_against_itself_is_refused(self, team: Team, pair: tuple[Example, Example]) -> None:
        first, _ = pair
        response = logged_in(team.annotator).post(
            f"/examples/{first.pk}/flag/compare/", {"other": str(first.pk)}
        )
        assert response.status_code == 200 and "names the same example twice" in text(response)
        assert not Flag.objects.exists()

    def test_an_example_of_another_project_is_not_found(
        self, team: Team, pair: tuple[Example, Example]
    ) -> None:
        stranger = ExampleFactory.create(project=ProjectFactory.create())
        client = logged_in(team.annotator)
        assert client.get(f"/examples/{pair[0].pk}/flag/compare/?other={stranger.pk}").status_code == 404
        assert client.post(f"/examples/{pair[0].pk}/flag/compare/", {"other": stranger.pk}).status_code == 404
        assert client.get(f"/examples/{pair[0].pk}/flag/compare/").status_code == 404
        assert not Flag.objects.exists()


@pytest.mark.django_db
class TestResolve:
    def test_keep_first_rejects_the_second(self, team: Team, pair: tuple[Example, Example]) -> None:
        # Given an open contradiction flag
        first, second = pair
        flag = contradiction(team, first, second)
        client = logged_in(team.reviewer)
        # When a reviewer keeps the first
        response = client.post(f"/flags/{flag.pk}/", {"resolution": "keep_first", "note": "Lost it is."})
        # Then the flag is resolved, the second example rejected and the first untouched
        assert response["Location"] == f"/flags/{flag.pk}/"
        flag.refresh_from_db()
        assert (flag.status, flag.resolution, flag.resolution_note, flag.resolved_by) == (
            FlagStatus.RESOLVED,
            "keep_first",
            "Lost it is.",
            team.reviewer,
        )
        first.refresh_from_db()
        second.refresh_from_db()
        assert (first.status, first.revision) == (ExampleStatus.SUBMITTED, 1)
        assert (second.status, second.last_change) == (ExampleStatus.REJECTED, "flag_resolved")
        review = Review.objects.get()
        assert (review.example, review.decision) == (second, "reject")
        # And the page says how it was closed, with no buttons left
        page = followed_text(client, response)
        assert f"Flag {flag.pk} closed." in page
        assert "Closed as <b>Keep the first, reject the second</b>" in page and "Lost it is." in page
        assert 'name="resolution"' not in page

    def test_keep_second_rejects_the_first(self, team: Team, pair: tuple[Example, Example]) -> None:
        first, second = pair
        flag = contradiction(team, first, second)
        logged_in(team.lead).post(f"/flags/{flag.pk}/", {"resolution": "keep_second"})
        first.refresh_from_db()
        second.refresh_from_db()
        assert (first.status, second.status) == (ExampleStatus.REJECTED, ExampleStatus.SUBMITTED)

    @pytest.mark.parametrize(
        ("resolution", "status"),
        [
            ("dismiss", FlagStatus.DISMISSED),
            ("keep_both", FlagStatus.RESOLVED),
            ("edited", FlagStatus.RESOLVED),
        ],
    )
    def test_closing_without_rejecting(
        self, team: Team, pair: tuple[Example, Example], resolution: str, status: str
    ) -> None:
        first, second = pair
        flag = contradiction(team, first, second)
        response = logged_in(team.reviewer).post(f"/flags/{flag.pk}/", {"resolution": resolution})
        assert response.status_code == 302
        flag.refresh_from_db()
        assert (flag.status, flag.resolution) == (status, resolution)
        assert set(Example.objects.values_list("status", flat=True)) == {ExampleStatus.SUBMITTED}
        assert not Review.objects.exists()

    def test_dismissed_flags_leave_the_open_list(self, team: Team, pair: tuple[Example, Example]) -> None:
        flag = contradiction(team, *pair, note="Look at these.")
        client = logged_in(team.reviewer)
        client.post(f"/flags/{flag.pk}/", {"resolution": "dismiss"})
        assert "No open flags." in text(client.get(f"/projects/{team.project.pk}/flags/"))
        dismissed = text(client.get(f"/projects/{team.project.pk}/flags/?status=dismissed"))
        assert f'href="/flags/{flag.pk}/"' in dismissed and "Look at these." in dismissed

    def test_a_closed_flag_cannot_be_resolved_again(self, team: Team, pair: tuple[Example, Example]) -> None:
        first, second = pair
        flag = contradiction(team, first, second)
        client = logged_in(team.reviewer)
        client.post(f"/flags/{flag.pk}/", {"resolution": "dismiss"})
        response = client.post(f"/flags/{flag.pk}/", {"resolution": "keep_first"})
        assert response.status_code == 200
        assert "This flag is already dismissed." in text(response)
        second.refresh_from_db()
        assert second.status == ExampleStatus.SUBMITTED

    def test_an_unknown_resolution_shows_a_message(self, team: Team, pair: tuple[Example, Example]) -> None:
        flag = contradiction(team, *pair)
        response = logged_in(team.reviewer).post(f"/flags/{flag.pk}/", {"resolution": "burn"})
        assert response.status_code == 200 and "Unknown resolution &#x27;burn&#x27;" in text(response)
        flag.refresh_from_db()
        assert flag.status == FlagStatus.OPEN

    def test_a_flag_on_one_example_offers_no_keep_buttons(
        self, team: Team, pair: tuple[Example, Example]
    ) -> None:
        flag = flag_create(
            project=team.project, user=team.annotator, kind=FlagKind.QUALITY, example_ids=[pair[0].pk]
        )
        page = text(logged_in(team.reviewer).get(f"/flags/{flag.pk}/"))
        assert 'value="keep_first"' not in page and 'value="dismiss"' in page
        assert f'href="/examples/{pair[0].pk}/">Example {pair[0].pk}</a>' in page

    def test_a_bad_status_filter_on_the_list_is_a_client_error_not_a_crash(self, team: Team) -> None:
        response = logged_in(team.annotator, raise_errors=False).get(
            f"/projects/{team.project.pk}/flags/?status=nonsense"
        )
        assert response.status_code in (200, 400)
