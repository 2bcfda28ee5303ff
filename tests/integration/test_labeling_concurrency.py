"""Annotators asking the labeling queue for work at the same moment, each in its own thread and
database connection: no item is handed out beyond its overlap, nobody gets an item twice, and
items whose claims expire go back to the queue."""

from __future__ import annotations

import functools
import threading
import time
from collections import Counter
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from curation.models import Flag, LabelingAssignment, LabelingItem, Project, Role
from curation.services.labeling import annotation_submit, items_enqueue, next_assignment
from tests.conftest import Team
from tests.factories import MembershipFactory
from tests.integration.test_concurrency import at_once

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

ANNOTATORS = 8


def test_parallel_claims_never_exceed_an_items_overlap_and_expired_claims_lose_nothing(team: Team) -> None:
    project = team.project
    project.labeling_overlap = 2
    project.save()
    items_enqueue(project=project, user=team.lead, inputs=[{"input": f"message {n}"} for n in range(6)])
    people = [MembershipFactory.create(project=project, role=Role.ANNOTATOR).user for _ in range(ANNOTATORS)]

    def take_three(user_index: int) -> list[int]:
        user = people[user_index]
        taken = []
        for _ in range(3):
            claim = next_assignment(project=project, user=user)
            if claim is None:
                break
            taken.append(claim.item_id)
            annotation_submit(item=claim.item, user=user, output="card_arrival")
        return taken

    outcomes = at_once([functools.partial(take_three, i) for i in range(ANNOTATORS)])
    assert not [o for o in outcomes if isinstance(o, Exception)], outcomes
    per_item = Counter(item for taken in outcomes for item in taken)
    assert set(per_item.values()) == {2} and len(per_item) == 6  # 12 slots, every one filled once
    assert all(len(set(taken)) == len(taken) for taken in outcomes)
    assert set(LabelingItem.objects.values_list("status", flat=True)) == {"agreed"}


def test_claims_that_expire_while_others_ask_are_handed_out_again_exactly_once(team: Team) -> None:
    project = team.project
    items_enqueue(project=project, user=team.lead, inputs=[{"input": f"message {n}"} for n in range(4)])
    people = [MembershipFactory.create(project=project, role=Role.ANNOTATOR).user for _ in range(ANNOTATORS)]
    for user in people[:4]:  # four claims that are then abandoned
        assert next_assignment(project=project, user=user) is not None
    later = timezone.now() + timedelta(hours=1)
    outcomes = at_once(
        [functools.partial(next_assignment, project=project, user=u, now=later) for u in people[4:]]
    )
    assert not [o for o in outcomes if isinstance(o, Exception)], outcomes
    taken = sorted(o.item_id for o in outcomes if o is not None)
    assert len(taken) == len(set(taken)) == 4
    assert LabelingAssignment.objects.count() == 4
    assert set(LabelingItem.objects.values_list("coverage", flat=True)) == {1}


@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks are PostgreSQL's")
def test_a_submit_locks_its_item_not_the_project(team: Team) -> None:
    project = team.project
    items_enqueue(project=project, user=team.lead, inputs=[{"input": "message"}])
    claim = next_assignment(project=project, user=team.annotator)
    assert claim is not None
    holding, release = threading.Event(), threading.Event()

    def hold_the_project_row() -> None:  # as an update of the project's row (its settings) does
        try:
            with transaction.atomic():
                Project.objects.select_for_update(no_key=True).get(pk=project.pk)
                holding.set()
                release.wait(30)
        finally:
            connection.close()

    other = threading.Thread(target=hold_the_project_row)
    other.start()
    try:
        assert holding.wait(30)
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '5s'")  # waiting on the project row fails the test
        annotation_submit(item=claim.item, user=team.annotator, output="card_arrival")
    finally:
        release.set()
        other.join(30)
    assert LabelingItem.objects.get(pk=claim.item_id).status == "agreed"


def waiting_on_a_lock() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND wait_event_type = 'Lock'"
        )
        return int(cursor.fetchone()[0])


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the one-statement answer is PostgreSQL's")
def test_two_last_answers_at_once_complete_the_item_once_with_both_answers(team: Team) -> None:
    """Both answers see an item still wanting two in their snapshots; the later one finds the count
    raised under the row lock, its one statement is undone whole, and the transactional path
    records it and completes the item."""
    project = team.project
    project.labeling_overlap = 2
    project.save()
    (item,) = items_enqueue(project=project, user=team.lead, inputs=[{"input": "message"}]).created
    first, second = (MembershipFactory.create(project=project, role=Role.ANNOTATOR).user for _ in range(2))
    first_claim, second_claim = (next_assignment(project=project, user=user) for user in (first, second))
    assert first_claim is not None and second_claim is not None
    assert first_claim.item_id == second_claim.item_id == item.pk
    locked, errors = threading.Event(), []

    def first_answers_while_holding_the_item() -> None:
        try:
            with transaction.atomic():
                LabelingItem.objects.select_for_update().get(pk=item.pk)
                locked.set()
                for _ in range(300):  # until the second answer waits for this row
                    if waiting_on_a_lock():
                        break
                    time.sleep(0.01)
                else:
                    raise AssertionError("the second answer never waited for the item's row")
                annotation_submit(item=first_claim.item, user=first, output="card_arrival")
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    other = threading.Thread(target=first_answers_while_holding_the_item)
    other.start()
    assert locked.wait(30)
    answer = annotation_submit(item=second_claim.item, user=second, output="card_linking")
    other.join(30)
    assert not errors, errors
    item.refresh_from_db()
    assert (item.annotation_count, item.coverage, item.status) == (2, 2, "disagreed")
    stored = dict(LabelingAssignment.objects.filter(item=item).values_list("annotator_id", "output"))
    assert stored == {first.pk: "card_arrival", second.pk: "card_linking"}
    assert LabelingAssignment.objects.get(pk=answer.pk).state == "submitted"
    assert Flag.objects.filter(project=project, kind="disagreement").count() == 1
