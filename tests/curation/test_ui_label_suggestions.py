"""Model suggestions on the pages: the label page shows the item's latest suggestion pre-filled and
marked (model, confidence), `a` submits it (its own small form), editing replaces it, the blind
sample shows it only after the answer; the review card and the example page show it with its use,
and the example page pre-fills a draft without output with its suggestion."""

from __future__ import annotations

import html
import re

import pytest
from django.contrib.auth.models import User

from curation.models import (
    Example,
    ExampleStatus,
    LabelingAssignment,
    LabelingItem,
    Project,
    Role,
    SuggestionUse,
    TaskType,
)
from curation.services.labeling import items_enqueue
from tests.conftest import Team
from tests.curation.suggestion_support import suggest
from tests.curation.ui_support import HTMX, followed_text, logged_in, text
from tests.factories import ExampleFactory, MembershipFactory, ProjectFactory

pytestmark = pytest.mark.django_db

ACCEPT_FORM = re.compile(r'<form[^>]*id="accept-suggestion"[^>]*>(.*?)</form>', re.DOTALL)
HIDDEN = re.compile(r'<input type="hidden" name="(\w+)" value="([^"]*)">')


def queued(project: Project, *texts: str) -> list[LabelingItem]:
    return items_enqueue(project=project, user=None, inputs=[{"input": t} for t in texts]).created


def label_url(project: Project, path: str = "") -> str:
    return f"/projects/{project.pk}/label/{path}"


def accept_form(page: str) -> dict[str, str]:
    """What the `a` key submits: the fields of the accept form on the card (less the CSRF token)."""
    found = ACCEPT_FORM.search(page)
    assert found is not None, "no accept form on the card"
    fields = {name: html.unescape(value) for name, value in HIDDEN.findall(found.group(1))}
    fields.pop("csrfmiddlewaretoken", None)
    return fields


def recorded(item: LabelingItem, user: User) -> tuple[str, int | None, bool, str]:
    answer = LabelingAssignment.objects.get(item=item, annotator=user)
    return answer.output, answer.suggestion_id, answer.suggestion_shown, answer.suggestion_use


class TestLabelPage:
    def test_shows_the_suggestion_pre_filled_and_marked_with_model_and_confidence(self, team: Team) -> None:
        (item,) = queued(team.project, "Where is my card?")
        suggestion = suggest(item, "card_arrival", confidence=0.873)
        page = text(logged_in(team.annotator).get(label_url(team.project)))
        assert 'data-testid="label-suggestion"' in page and "Model suggestion" in page
        assert "tiny-suggester · confidence 87%" in page
        assert '<input type="radio" name="output" value="card_arrival" data-label-key="1" checked>' in page
        assert f'<input type="hidden" name="suggestion" value="{suggestion.pk}">' in page
        assert "<kbd>a</kbd> accept the model's suggestion" in page  # in the page's key help
        assert 'data-key="a"' in page

    def test_the_a_key_submits_the_suggestion_as_the_answer(self, team: Team) -> None:
        first, _ = queued(team.project, "Where is my card?", "Rate for euros?")
        suggestion = suggest(first, "card_arrival")
        client = logged_in(team.annotator)
        page = text(client.get(label_url(team.project)))
        fields = accept_form(page)
        assert fields == {"item": str(first.pk), "suggestion": str(suggestion.pk), "output": "card_arrival"}
        card = text(client.post(label_url(team.project, "submit/"), fields, **HTMX))
        assert f"Item {first.pk} labeled." in card and "Rate for euros?" in card
        assert recorded(first, team.annotator) == (
            "card_arrival",
            suggestion.pk,
            True,
            SuggestionUse.ACCEPTED,
        )
        assert 'id="accept-suggestion"' not in card  # the next item has no suggestion: nothing to accept

    def test_choosing_another_label_replaces_the_suggestion(self, team: Team) -> None:
        (item,) = queued(team.project, "Where is my card?")
        suggestion = suggest(item, "card_arrival")
        client = logged_in(team.annotator)
        client.get(label_url(team.project))
        data = {"item": item.pk, "suggestion": suggestion.pk, "output": "card_linking"}
        client.post(label_url(team.project, "submit/"), data, **HTMX)
        assert recorded(item, team.annotator) == ("card_linking", suggestion.pk, True, SuggestionUse.REPLACED)

    def test_a_text_answer_is_pre_filled_and_an_edit_is_recorded(self, db: None) -> None:
        project = ProjectFactory.create(task_type=TaskType.GENERATION, labels=[])
        user = MembershipFactory.create(project=project, role=Role.ANNOTATOR).user
        (item,) = queued(project, "Say hello politely")
        suggestion = suggest(item, "Hello, how can I help?", confidence=-0.4213)
        client = logged_in(user)
        page = text(client.get(label_url(project)))
        assert "confidence mean log-prob -0.42" in page
        assert ">\nHello, how can I help?</textarea>" in page
        data = {"item": item.pk, "suggestion": suggestion.pk, "output": "Hello, how may I help you?"}
        client.post(label_url(project, "submit/"), data, **HTMX)
        assert recorded(item, user)[3] == SuggestionUse.EDITED

    def test_an_invalid_suggestion_says_so_and_cannot_be_accepted_by_key(self, db: None) -> None:
        project = ProjectFactory.create(task_type=TaskType.EXTRACTION, labels=[])
        user = MembershipFactory.create(project=project, role=Role.ANNOTATOR).user
        (item,) = queued(project, "Ship 3 red mugs")
        suggest(item, '{"count": ', confidence=-1.5, valid=False)
        page = text(logged_in(user).get(label_url(project)))
        assert "not valid as it is" in page and 'id="accept-suggestion"' not in page

    def test_a_wrong_suggestion_id_is_refused_on_the_card(self, team: Team) -> None:
        first, second = queued(team.project, "Where is my card?", "Rate for euros?")
        other = suggest(second, "exchange_rate")
        client = logged_in(team.annotator)
        client.get(label_url(team.project))
        data = {"item": first.pk, "suggestion": other.pk, "output": "card_arrival"}
        card = text(client.post(label_url(team.project, "submit/"), data, **HTMX))
        assert f"is not a suggestion of item {first.pk}" in card and 'data-testid="label-problem"' in card
        assert not LabelingAssignment.objects.filter(item=first, state="submitted").exists()

    def test_the_blind_sample_shows_the_suggestion_only_after_the_answer(self, team: Team) -> None:
        team.project.suggestion_blind_share = 1.0
        team.project.save()
        first, _ = queued(team.project, "Where is my card?", "Rate for euros?")
        suggestion = suggest(first, "card_arrival", confidence=0.61)
        client = logged_in(team.annotator)
        page = text(client.get(label_url(team.project)))
        assert "Model suggestion" not in page and 'name="suggestion" value="none"' in page
        assert 'value="card_arrival" data-label-key="1">' in page  # nothing pre-selected
        card = text(
            client.post(
                label_url(team.project, "submit/"), {"item": first.pk, "output": "card_linking"}, **HTMX
            )
        )
        assert f"The model had suggested &#x27;card_arrival&#x27; (61%) for item {first.pk}." in card
        assert recorded(first, team.annotator) == ("card_linking", suggestion.pk, False, SuggestionUse.UNSEEN)

    def test_a_plain_post_of_a_blind_item_flashes_the_note(self, team: Team) -> None:
        team.project.suggestion_blind_share = 1.0
        team.project.save()
        (item,) = queued(team.project, "Where is my card?")
        suggest(item, "card_arrival", confidence=0.61)
        client = logged_in(team.annotator)
        client.get(label_url(team.project))
        response = client.post(
            label_url(team.project, "submit/"), {"item": item.pk, "output": "card_arrival"}
        )
        assert "The model had suggested &#x27;card_arrival&#x27; (61%)" in followed_text(client, response)


class TestReviewAndExamplePages:
    def test_the_review_card_and_the_example_page_show_the_suggestion_and_its_use(self, team: Team) -> None:
        (item,) = queued(team.project, "Where is my card?")
        suggest(item, "card_arrival", confidence=0.9)
        client = logged_in(team.annotator)
        client.get(label_url(team.project))
        client.post(label_url(team.project, "submit/"), {"item": item.pk, "output": "card_linking"})
        example = Example.objects.get(labeling_item=item)
        review = text(logged_in(team.reviewer).get(f"/projects/{team.project.pk}/review/"))
        assert 'data-testid="review-suggestion"' in review and "90%" in review
        assert '<span class="badge" data-testid="suggestion-use">replaced</span>' in review
        page = text(logged_in(team.reviewer).get(f"/examples/{example.pk}/"))
        assert 'data-testid="example-suggestion"' in page and "replaced" in page

    def test_a_draft_without_output_is_pre_filled_with_its_suggestion_and_saving_it_accepts_it(
        self, team: Team
    ) -> None:
        draft = ExampleFactory.create(
            project=team.project,
            input="Card late",
            output="",
            status=ExampleStatus.DRAFT,
            created_by=team.annotator,
        )
        suggestion = suggest(draft, "card_arrival", confidence=0.7)
        client = logged_in(team.annotator)
        page = text(client.get(f"/examples/{draft.pk}/"))
        assert 'data-testid="draft-suggestion"' in page
        assert '<option value="card_arrival" selected>card_arrival</option>' in page
        response = client.post(
            f"/examples/{draft.pk}/",
            {"input": "Card late", "output": "card_arrival", "revision": draft.revision, "save": "1"},
        )
        assert response.status_code == 302
        draft.refresh_from_db()
        assert (draft.output, draft.suggestion_id, draft.suggestion_use) == (
            "card_arrival",
            suggestion.pk,
            SuggestionUse.ACCEPTED,
        )
