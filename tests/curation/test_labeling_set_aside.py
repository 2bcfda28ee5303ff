"""Inputs the labeling queue cannot finish (curation/services/labeling_aside.py): annotators say
why they skip, the lead sees the inputs every member passed on, and sets them aside or puts them
back in the queue for everyone; through the API as a script does and on the queue page."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from rest_framework.test import APIClient

from curation.models import AssignmentState, AuditEvent, ItemStatus, LabelingAssignment, LabelingItem
from tests.api.support import error_fields
from tests.api.test_labeling_api import answer, queue, take, with_overlap
from tests.conftest import Team

pytestmark = pytest.mark.django_db

ClientFor = Callable[[User | None], APIClient]
API = "/api"
NONE_FIT = "None of the labels fit"


def queued_item(team: Team, client_for: ClientFor, text: str = "Is it going to rain?") -> LabelingItem:
    assert queue(client_for(team.lead), team.project, text).status_code == 201
    return LabelingItem.objects.get(project=team.project, input=text)


def skip(client: APIClient, item: LabelingItem, reason: str | None = None) -> Any:
    body = {} if reason is None else {"reason": reason}
    return client.post(f"{API}/labeling/items/{item.pk}/skip/", body, format="json")


def move(client: APIClient, team: Team, action: str, *items: LabelingItem) -> Any:
    url = f"{API}/projects/{team.project.pk}/labeling/{action}/"
    return client.post(url, {"items": [item.pk for item in items]}, format="json")


def everyone(team: Team) -> list[User]:
    return [team.annotator, team.reviewer, team.lead]


def test_a_skip_keeps_its_reason_and_only_reviewers_see_everyones(team: Team, client_for: ClientFor) -> None:
    item = queued_item(team, client_for)

    assert skip(client_for(team.annotator), item, f"  {NONE_FIT} ").status_code == 204
    assert skip(client_for(team.reviewer), item).status_code == 204

    skips = LabelingAssignment.objects.filter(item=item, state=AssignmentState.SKIPPED).order_by("id")
    assert [s.skip_reason for s in skips] == [NONE_FIT, ""]
    as_lead = client_for(team.lead).get(f"{API}/labeling/items/{item.pk}/").json()["skips"]
    assert [(s["annotator"], s["reason"]) for s in as_lead] == [
        (team.annotator.username, NONE_FIT),
        (team.reviewer.username, ""),
    ]
    as_annotator = client_for(team.annotator).get(f"{API}/labeling/items/{item.pk}/").json()["skips"]
    assert [s["annotator"] for s in as_annotator] == [team.annotator.username]


def test_a_reason_longer_than_200_characters_is_refused_naming_it(team: Team, client_for: ClientFor) -> None:
    item = queued_item(team, client_for)

    response = skip(client_for(team.annotator), item, "x" * 201)

    assert response.status_code == 400 and error_fields(response) == ["reason"]
    assert not LabelingAssignment.objects.filter(item=item).exists()


def test_an_input_every_member_passed_on_is_counted_as_stuck_until_a_lead_decides(
    team: Team, client_for: ClientFor
) -> None:
    # Given an input two members skipped and the third holds
    item = queued_item(team, client_for)
    for user in (team.annotator, team.reviewer):
        assert skip(client_for(user), item, NONE_FIT).status_code == 204
    lead = client_for(team.lead)
    assert take(lead, team.project).json()["item"]["id"] == item.pk

    def summary() -> dict[str, int]:
        labeling: dict[str, int] = lead.get(f"{API}/projects/{team.project.pk}/").json()["labeling"]
        return labeling

    assert summary()["stuck"] == 0  # someone is on it
    # When the third skips it too, nobody is left who could label it
    assert skip(lead, item, "Not sure").status_code == 204
    assert summary()["stuck"] == 1 and summary()["queued"] == 1
    listed = lead.get(f"{API}/projects/{team.project.pk}/labeling/items/", {"skipped": "true"}).json()
    assert [row["id"] for row in listed["results"]] == [item.pk]

    # When the lead sets it aside, it leaves the queue and the count
    assert move(lead, team, "set-aside", item).json() == {"set_aside": [item.pk]}
    assert summary()["stuck"] == 0 and summary()["queued"] == 0 and summary()["set_aside"] == 1
    event = AuditEvent.objects.get(action="labeling_item.set_aside")
    assert event.summary == f"Set aside labeling item {item.pk}"


def test_an_item_set_aside_is_handed_to_nobody_and_an_answer_to_a_claim_on_it_is_refused(
    team: Team, client_for: ClientFor
) -> None:
    # Given an item of overlap 2 answered once and claimed by a second annotator
    with_overlap(team.project, 2)
    item = queued_item(team, client_for)
    reviewer, annotator = client_for(team.reviewer), client_for(team.annotator)
    assert take(reviewer, team.project).json()["item"]["id"] == item.pk
    assert answer(reviewer, item.pk, "card_arrival").status_code == 201
    assert take(annotator, team.project).json()["item"]["id"] == item.pk

    # When the lead sets it aside
    assert move(client_for(team.lead), team, "set-aside", item).status_code == 200

    # Then the claim ends (the answer stays), nobody is handed it, and the claim's answer says why
    item.refresh_from_db()
    assert (item.status, item.coverage, item.annotation_count) == (ItemStatus.SET_ASIDE, 1, 1)
    refused = answer(annotator, item.pk, "card_arrival")
    assert refused.status_code == 409 and "was set aside by a lead" in refused.json()["detail"]
    assert take(client_for(team.lead), team.project).status_code == 204
    assert skip(annotator, item).status_code == 409


def test_put_back_an_item_is_queued_for_everyone_again_skips_dropped(
    team: Team, client_for: ClientFor
) -> None:
    item = queued_item(team, client_for)
    for user in everyone(team):
        skip(client_for(user), item, NONE_FIT)
    lead = client_for(team.lead)
    move(lead, team, "set-aside", item)

    assert move(lead, team, "requeue", item).json() == {"requeued": [item.pk]}

    item.refresh_from_db()
    assert item.status == ItemStatus.QUEUED
    assert not LabelingAssignment.objects.filter(item=item).exists()
    assert take(client_for(team.annotator), team.project).json()["item"]["id"] == item.pk
    assert AuditEvent.objects.filter(action="labeling_item.requeue").count() == 1


@pytest.mark.parametrize(
    ("action", "status", "expected"),
    [
        (
            "set-aside",
            ItemStatus.AGREED,
            "labeled: the annotations agree: only queued items can be set aside",
        ),
        (
            "requeue",
            ItemStatus.DISAGREED,
            "the annotations disagree (a flag): only items not yet labeled can be put back",
        ),
    ],
)
def test_moving_an_item_of_another_status_is_refused_whole_naming_it(
    team: Team, client_for: ClientFor, action: str, status: str, expected: str
) -> None:
    first, second = queued_item(team, client_for, "one?"), queued_item(team, client_for, "two?")
    LabelingItem.objects.filter(pk=first.pk).update(
        status=ItemStatus.SET_ASIDE if action == "requeue" else "queued"
    )
    LabelingItem.objects.filter(pk=second.pk).update(status=status)

    response = move(client_for(team.lead), team, action, first, second)

    assert response.status_code == 409 and expected in response.json()["detail"]
    assert f"Item {second.pk}" in response.json()["detail"]
    first.refresh_from_db()
    assert first.status == (ItemStatus.SET_ASIDE if action == "requeue" else ItemStatus.QUEUED)


def test_a_queued_item_put_back_is_offered_again_to_those_who_skipped_it(
    team: Team, client_for: ClientFor
) -> None:
    with_overlap(team.project, 2)
    item = queued_item(team, client_for)
    annotator = client_for(team.annotator)
    skip(annotator, item, NONE_FIT)
    assert take(annotator, team.project).status_code == 204

    reviewer = client_for(team.reviewer)
    assert take(reviewer, team.project).json()["item"]["id"] == item.pk  # a live claim

    assert move(client_for(team.lead), team, "requeue", item).json() == {"requeued": [item.pk]}

    assert take(annotator, team.project).json()["item"]["id"] == item.pk
    item.refresh_from_db()
    assert item.coverage == 2  # both claims hold their slots
    assert answer(reviewer, item.pk, "card_arrival").status_code == 201


def test_an_item_of_another_project_is_a_400_naming_it(team: Team, client_for: ClientFor) -> None:
    response = client_for(team.lead).post(
        f"{API}/projects/{team.project.pk}/labeling/set-aside/", {"items": [987654]}, format="json"
    )

    assert response.status_code == 400 and "no labeling item 987654" in response.content.decode()


# --- the pages ------------------------------------------------------------------------------------


def page_client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_label_page_skips_with_a_reason(team: Team, client_for: ClientFor) -> None:
    item = queued_item(team, client_for)
    browser = page_client(team.annotator)
    card = browser.get(f"/projects/{team.project.pk}/label/")
    assert NONE_FIT.encode() in card.content

    done = browser.post(
        f"/projects/{team.project.pk}/label/skip/",
        {"item": item.pk, "reason": NONE_FIT},
        HTTP_HX_REQUEST="true",
    )

    assert f"Skipped item {item.pk} ({NONE_FIT})".encode() in done.content
    assert LabelingAssignment.objects.get(item=item).skip_reason == NONE_FIT


def test_the_queue_page_shows_inputs_nobody_can_take_and_sets_them_aside_at_once(
    team: Team, client_for: ClientFor
) -> None:
    # Given two inputs every member skipped and one still waiting
    stuck = [queued_item(team, client_for, text) for text in ("rain?", "snow?")]
    waiting = queued_item(team, client_for, "Where is my card?")
    for item in stuck:
        for user in everyone(team):
            skip(client_for(user), item, NONE_FIT)
    browser = page_client(team.lead)
    url = f"/projects/{team.project.pk}/label/queue/"

    page = browser.get(url).content.decode()
    assert "2 inputs cannot be labeled further" in page and NONE_FIT in page
    only_stuck = browser.get(url, {"show": "stuck"}).content.decode()
    assert f'data-item="{stuck[0].pk}"' in only_stuck and f'data-item="{waiting.pk}"' not in only_stuck

    # When the lead sets them aside from the box, then puts one back from its row
    moved = browser.post(f"{url}move/", {"action": "set_aside", "stuck": "1"}, follow=True)
    assert "Set aside 2 inputs." in moved.content.decode()
    assert {item.status for item in LabelingItem.objects.filter(pk__in=[i.pk for i in stuck])} == {
        "set_aside"
    }
    back = browser.post(f"{url}move/", {"action": "requeue", "items": stuck[0].pk, "show": "set_aside"})
    assert back.status_code == 302 and back["Location"].endswith("?show=set_aside")
    stuck[0].refresh_from_db()
    assert stuck[0].status == ItemStatus.QUEUED


def test_an_annotator_cannot_set_inputs_aside_from_the_page(team: Team, client_for: ClientFor) -> None:
    item = queued_item(team, client_for)

    response = page_client(team.annotator).post(
        f"/projects/{team.project.pk}/label/queue/move/", {"action": "set_aside", "items": item.pk}
    )

    assert response.status_code == 403
    item.refresh_from_db()
    assert item.status == ItemStatus.QUEUED
