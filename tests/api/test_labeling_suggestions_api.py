"""Model suggestions in the labeling API: `next` and the item carry the item's latest suggestion
(null without one, and null for an item of the blind sample until the caller answered it); an
answer names the suggestion it was shown and says what it did with it."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from curation.models import JobStatus, LabelingItem, Project, Suggestion, SuggestionUse
from curation.services.labeling import items_enqueue
from tests.api.support import error_fields
from tests.conftest import Team
from tests.curation.suggestion_support import suggest, suggestion_run

pytestmark = pytest.mark.django_db

ClientFor = Callable[[User | None], APIClient]


def queued(project: Project, *texts: str) -> list[LabelingItem]:
    return items_enqueue(project=project, user=None, inputs=[{"input": t} for t in texts]).created


def payload(suggestion: Suggestion) -> dict[str, object]:
    return {
        "id": suggestion.pk,
        "output": suggestion.output,
        "confidence": suggestion.confidence,
        "valid": True,
        "alternatives": [{"label": suggestion.output, "probability": suggestion.confidence}],
        "model": "tiny-suggester",
        "run": suggestion.run_id,
    }


def test_next_and_the_item_carry_the_latest_suggestion_or_null(team: Team, client_for: ClientFor) -> None:
    first, second = queued(team.project, "Where is my card?", "Rate for euros?")
    suggest(first, "card_linking", confidence=0.4)
    latest = suggest(first, "card_arrival", confidence=0.75)
    suggest(first, "exchange_rate", run=suggestion_run(team.project, status=JobStatus.FAILED))
    client = client_for(team.annotator)
    claim = client.post(f"/api/projects/{team.project.pk}/labeling/next/").json()
    assert claim["item"]["id"] == first.pk and claim["item"]["suggestion"] == payload(latest)
    assert client.get(f"/api/labeling/items/{first.pk}/").json()["suggestion"] == payload(latest)
    assert client.get(f"/api/labeling/items/{second.pk}/").json()["suggestion"] is None


def test_an_answer_names_its_suggestion_and_says_what_it_did(team: Team, client_for: ClientFor) -> None:
    first, second, third = queued(team.project, "Where is my card?", "Rate for euros?", "No suggestion here")
    shown = suggest(first, "card_arrival")
    other = suggest(second, "card_arrival")
    client = client_for(team.annotator)
    url = "/api/labeling/items/{}/annotations/"
    accepted = client.post(
        url.format(first.pk), {"output": "card_arrival", "suggestion": shown.pk}, format="json"
    )
    assert accepted.status_code == 201
    assert (accepted.json()["suggestion"], accepted.json()["suggestion_use"]) == (
        shown.pk,
        SuggestionUse.ACCEPTED,
    )
    # Without `suggestion`: measured against the item's latest.
    replaced = client.post(url.format(second.pk), {"output": "exchange_rate"}, format="json").json()
    assert (replaced["suggestion"], replaced["suggestion_use"]) == (other.pk, SuggestionUse.REPLACED)
    none = client.post(url.format(third.pk), {"output": "card_linking"}, format="json").json()
    assert (none["suggestion"], none["suggestion_use"]) == (None, "")


def test_a_suggestion_of_another_item_is_a_400_naming_it(team: Team, client_for: ClientFor) -> None:
    first, second = queued(team.project, "Where is my card?", "Rate for euros?")
    other = suggest(second, "exchange_rate")
    response = client_for(team.annotator).post(
        f"/api/labeling/items/{first.pk}/annotations/",
        {"output": "card_arrival", "suggestion": other.pk},
        format="json",
    )
    assert response.status_code == 400 and error_fields(response) == ["suggestion"]
    assert f"suggestion {other.pk} is not a suggestion of item {first.pk}" in response.json()["detail"]
    bad = client_for(team.annotator).post(
        f"/api/labeling/items/{first.pk}/annotations/",
        {"output": "card_arrival", "suggestion": "x"},
        format="json",
    )
    assert bad.status_code == 400 and error_fields(bad) == ["suggestion"]


def test_a_blind_item_shows_no_suggestion_until_the_caller_answered(
    team: Team, client_for: ClientFor
) -> None:
    team.project.suggestion_blind_share = 1.0
    team.project.labeling_overlap = 2
    team.project.save()
    (item,) = queued(team.project, "Where is my card?")
    suggestion = suggest(item, "card_arrival")
    client = client_for(team.annotator)
    claim = client.post(f"/api/projects/{team.project.pk}/labeling/next/").json()
    assert claim["item"]["suggestion"] is None
    assert client.get(f"/api/labeling/items/{item.pk}/").json()["suggestion"] is None
    answered = client.post(
        f"/api/labeling/items/{item.pk}/annotations/", {"output": "card_linking"}, format="json"
    )
    assert answered.json()["suggestion_use"] == SuggestionUse.UNSEEN
    assert client.get(f"/api/labeling/items/{item.pk}/").json()["suggestion"]["id"] == suggestion.pk
    # Another annotator, who has not answered yet, still sees none.
    assert client_for(team.reviewer).get(f"/api/labeling/items/{item.pk}/").json()["suggestion"] is None
