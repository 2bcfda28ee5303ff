"""Annotators asking the API for their next item at the same moment, each a client in its own
thread and database connection (really in parallel on PostgreSQL): no item is handed out beyond
its overlap, nobody gets an item twice, and every slot is filled once."""

from __future__ import annotations

import functools
from collections import Counter

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from curation.models import ItemStatus, LabelingAssignment, LabelingItem, Role
from curation.services.labeling import items_enqueue
from tests.conftest import Team
from tests.factories import MembershipFactory
from tests.integration.test_concurrency import at_once

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

ANNOTATORS = 8
ITEMS = 6
OVERLAP = 2


def client_with_token(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def label_until_empty(key: str, project_id: int) -> list[int]:
    """Take the next item and answer it, until the queue has nothing left for this annotator."""
    client = client_with_token(key)
    taken: list[int] = []
    for _ in range(ITEMS + 1):
        claim = client.post(f"/api/projects/{project_id}/labeling/next/")
        if claim.status_code == 204:
            return taken
        assert claim.status_code == 200, claim.content
        item_id = claim.json()["item"]["id"]
        taken.append(item_id)
        answer = client.post(
            f"/api/labeling/items/{item_id}/annotations/", {"output": "card_arrival"}, format="json"
        )
        assert answer.status_code == 201, answer.content
    return taken


def test_parallel_next_requests_never_hand_an_item_out_beyond_its_overlap(team: Team) -> None:
    project = team.project
    project.labeling_overlap = OVERLAP
    project.save()
    items_enqueue(project=project, user=team.lead, inputs=[{"input": f"message {n}"} for n in range(ITEMS)])
    keys = [
        Token.objects.create(user=MembershipFactory.create(project=project, role=Role.ANNOTATOR).user).key
        for _ in range(ANNOTATORS)
    ]

    outcomes = at_once([functools.partial(label_until_empty, key, project.pk) for key in keys])

    assert not [o for o in outcomes if isinstance(o, Exception)], outcomes
    per_item = Counter(item for taken in outcomes for item in taken)
    assert len(per_item) == ITEMS and set(per_item.values()) == {OVERLAP}  # every slot filled once
    assert all(len(set(taken)) == len(taken) for taken in outcomes)  # nobody got an item twice
    assert LabelingAssignment.objects.count() == ITEMS * OVERLAP
    assert set(LabelingItem.objects.values_list("status", flat=True)) == {ItemStatus.AGREED}
    assert set(LabelingItem.objects.values_list("coverage", "annotation_count")) == {(OVERLAP, OVERLAP)}
