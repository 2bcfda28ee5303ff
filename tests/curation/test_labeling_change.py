"""An annotator changes their own answer while the item waits for the others'
(curation/services/labeling_change.py): over the API and on the label page's previous card."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from curation.models import AuditEvent, ItemStatus, LabelingAssignment, LabelingItem
from tests.api.support import error_fields
from tests.api.test_labeling_api import answer, take, with_overlap
from tests.conftest import Team
from tests.curation.test_labeling_set_aside import API, ClientFor, page_client, queued_item

pytestmark = pytest.mark.django_db


def change(client: APIClient, item: LabelingItem, output: str) -> Any:
    return client.patch(f"{API}/labeling/items/{item.pk}/annotations/", {"output": output}, format="json")


def test_an_annotator_changes_their_answer_while_the_item_waits_for_others(
    team: Team, client_for: ClientFor
) -> None:
    # Given an item of overlap 2 the annotator answered wrongly
    with_overlap(team.project, 2)
    item = queued_item(team, client_for, "My card is stolen. Help!")
    annotator, reviewer = client_for(team.annotator), client_for(team.reviewer)
    take(annotator, team.project)
    answer(annotator, item.pk, "card_arrival")

    # When they change it, then the reviewer answers the same
    changed = change(annotator, item, "lost_or_stolen_card")
    assert changed.status_code == 200 and changed.json()["output"] == "lost_or_stolen_card"
    take(reviewer, team.project)
    done = answer(reviewer, item.pk, "lost_or_stolen_card").json()

    # Then the two answers agree: one example, no disagreement flag, and the change is audited
    assert done["item_status"] == ItemStatus.AGREED and done["flag"] is None
    assert AuditEvent.objects.get(action="labeling_item.answer_change").summary == (
        f"Changed the answer to labeling item {item.pk}: 'card_arrival' -> 'lost_or_stolen_card'"
    )
    # And once labeled, the answer is an example: no more changes here
    late = change(annotator, item, "card_arrival")
    assert late.status_code == 409 and "edit your example instead" in late.json()["detail"]


def test_a_change_the_project_refuses_or_without_an_answer_says_why(
    team: Team, client_for: ClientFor
) -> None:
    with_overlap(team.project, 2)
    item = queued_item(team, client_for)
    annotator = client_for(team.annotator)
    assert change(annotator, item, "card_arrival").status_code == 409  # nothing answered yet
    take(annotator, team.project)
    answer(annotator, item.pk, "card_arrival")

    refused = change(annotator, item, "refund")

    assert refused.status_code == 400 and error_fields(refused) == ["output"]
    assert LabelingAssignment.objects.get(item=item, annotator=team.annotator).output == "card_arrival"


def test_the_previous_card_changes_the_answer(team: Team, client_for: ClientFor) -> None:
    with_overlap(team.project, 2)
    item = queued_item(team, client_for)
    take(client_for(team.annotator), team.project)
    answer(client_for(team.annotator), item.pk, "card_arrival")
    browser = page_client(team.annotator)

    card = browser.get(f"/projects/{team.project.pk}/label/", {"item": item.pk}, HTTP_HX_REQUEST="true")
    assert b'data-testid="label-change"' in card.content
    done = browser.post(
        f"/projects/{team.project.pk}/label/change/",
        {"item": item.pk, "output": "card_linking"},
        HTTP_HX_REQUEST="true",
    )

    assert f"Your answer to item {item.pk} is changed.".encode() in done.content
    assert LabelingAssignment.objects.get(item=item, annotator=team.annotator).output == "card_linking"
