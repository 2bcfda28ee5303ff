"""How the labeling queue fills an overlap above 1 (the project's labeling_fill): depth, the
default, finishes the inputs someone started before new ones are started, so examples and
agreement come from the first day; breadth gives every input a first annotation before any gets
a second."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from curation.errors import InvalidInput
from curation.models import (
    AssignmentState,
    Example,
    Flag,
    FlagKind,
    ItemStatus,
    LabelingAssignment,
    LabelingFill,
    LabelingItem,
    Project,
)
from curation.queues import labeling_queue_size
from curation.services.labeling import (
    CANDIDATE_SQL,
    annotation_submit,
    assignment_skip,
    next_assignment,
    open_items,
)
from curation.services.projects import project_create, project_update
from tests.conftest import Team
from tests.curation.test_labeling_order import settings_data
from tests.curation.test_labeling_queue import annotators, queue
from tests.curation.ui_support import logged_in, text
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def overlap(project: Project, count: int, fill: str = LabelingFill.DEPTH) -> None:
    project.labeling_overlap = count
    project.labeling_fill = fill
    project.save()


def claim(project: Project, user: User) -> LabelingItem:
    assignment = next_assignment(project=project, user=user)
    assert assignment is not None
    return assignment.item


def label(project: Project, user: User, output: str = "card_arrival") -> LabelingItem:
    """The user takes the next item and answers it; the item as it is after the answer."""
    item = claim(project, user)
    annotation_submit(item=item, user=user, output=output)
    return LabelingItem.objects.get(pk=item.pk)


def untouched(items: list[LabelingItem]) -> bool:
    fresh = LabelingItem.objects.filter(pk__in=[item.pk for item in items])
    no_turns = not LabelingAssignment.objects.filter(item__in=fresh).exists()
    return no_turns and all((i.status, i.coverage) == (ItemStatus.QUEUED, 0) for i in fresh)


def test_depth_is_the_default_of_a_new_project(team: Team) -> None:
    assert team.project.labeling_fill == LabelingFill.DEPTH
    made = project_create(
        user=UserFactory.create(), name="n", task_type="generation", target_behavior="Answer politely."
    )
    assert made.labeling_fill == LabelingFill.DEPTH


def test_depth_hands_the_second_annotator_the_input_the_first_started_and_it_becomes_an_example(
    team: Team,
) -> None:
    # Given overlap 2, filled depth first (the default), and three queued inputs
    overlap(team.project, 2)
    first, *rest = queue(team.project, "My card has not arrived", "Rate today?", "PIN blocked")
    ana, ben = annotators(team.project, 2)
    # When the first annotator starts an input and the second asks for one
    assert claim(team.project, ana).pk == first.pk
    assert claim(team.project, ben).pk == first.pk
    # Then both finish it: it becomes one example while the other inputs are untouched
    annotation_submit(item=first, user=ana, output="card_arrival")
    annotation_submit(item=first, user=ben, output="card_arrival")
    first.refresh_from_db()
    assert first.status == ItemStatus.AGREED
    assert list(Example.objects.filter(labeling_item=first).values_list("output", flat=True)) == [
        "card_arrival"
    ]
    assert untouched(rest)


def test_depth_answers_that_differ_become_a_disagreement_flag_at_once(team: Team) -> None:
    overlap(team.project, 2)
    first, *rest = queue(team.project, "My card has not arrived", "Rate today?")
    ana, ben = annotators(team.project, 2)
    assert label(team.project, ana, "card_arrival").pk == first.pk
    done = label(team.project, ben, "card_linking")
    assert done.pk == first.pk and done.status == ItemStatus.DISAGREED
    assert Flag.objects.filter(project=team.project, kind=FlagKind.DISAGREEMENT).count() == 1
    assert untouched(rest)


def test_breadth_keeps_every_input_first_answer_before_any_second(team: Team) -> None:
    overlap(team.project, 2, LabelingFill.BREADTH)
    first, second, third = queue(team.project, "one", "two", "three")
    ana, ben = annotators(team.project, 2)
    assert claim(team.project, ana).pk == first.pk
    assert claim(team.project, ben).pk == second.pk  # the untouched input before the started one
    annotation_submit(item=first, user=ana, output="card_arrival")
    annotation_submit(item=second, user=ben, output="card_arrival")
    assert label(team.project, ana).pk == third.pk
    assert label(team.project, ben).pk == first.pk  # a second answer once all have a first
    assert not Example.objects.filter(labeling_item__in=[second, third]).exists()


def test_an_annotator_far_ahead_skips_what_they_answered_and_the_others_catch_up_in_order(
    team: Team,
) -> None:
    overlap(team.project, 2)
    items = queue(team.project, *[f"message {n}" for n in range(6)])
    fast, slow = annotators(team.project, 2)
    # The fast annotator labels four inputs alone: each hand-out passes over their own answers,
    # which wait for a second one, and starts the next input.
    assert [label(team.project, fast).pk for _ in range(4)] == [item.pk for item in items[:4]]
    # The slow one is handed those, oldest first, before anything new
    done = [label(team.project, slow) for _ in range(4)]
    assert [item.pk for item in done] == [item.pk for item in items[:4]]
    assert {item.status for item in done} == {ItemStatus.AGREED}
    assert untouched(items[4:])


def test_depth_orders_by_coverage_then_priority_then_arrival(team: Team) -> None:
    overlap(team.project, 3)
    fresh, late, early, nearly_done, bare, full = queue(team.project, "a", "b", "c", "d", "e", "f")
    layout = {
        fresh: (0, 0.1),
        late: (1, 0.9),
        early: (1, 0.2),
        nearly_done: (2, None),
        bare: (1, None),
        full: (3, 0),
    }
    for item, (coverage, priority) in layout.items():
        LabelingItem.objects.filter(pk=item.pk).update(coverage=coverage, priority=priority)
    depth = [nearly_done, early, late, bare, fresh]
    assert list(open_items(team.project).values_list("pk", flat=True)) == [i.pk for i in depth]
    assert claim(team.project, UserFactory.create()).pk == nearly_done.pk
    overlap(team.project, 3, LabelingFill.BREADTH)
    breadth = [fresh, early, late, bare]
    assert list(open_items(team.project).values_list("pk", flat=True)) == [i.pk for i in breadth]


def test_a_skip_passes_the_started_input_on_to_the_next_annotator(team: Team) -> None:
    overlap(team.project, 2)
    first, second = queue(team.project, "one", "two")
    ana, ben, cleo = annotators(team.project, 3)
    annotation_submit(item=claim(team.project, ana), user=ana, output="card_arrival")
    assignment_skip(item=claim(team.project, ben), user=ben, reason="Not sure")
    assert claim(team.project, ben).pk == second.pk  # not the skipped one again
    assert claim(team.project, cleo).pk == first.pk  # the started input, still first in line


def test_an_expired_claim_gives_its_slot_back_and_the_input_is_still_finished_first(team: Team) -> None:
    overlap(team.project, 2)
    first, second = queue(team.project, "one", "two")
    ana, slow, ben = annotators(team.project, 3)
    annotation_submit(item=claim(team.project, ana), user=ana, output="card_arrival")
    assert claim(team.project, slow).pk == first.pk
    later = timezone.now() + timedelta(hours=1)
    got = next_assignment(project=team.project, user=ben, now=later)
    assert got is not None and got.item_id == first.pk
    assert not LabelingAssignment.objects.filter(annotator=slow).exists()
    assert untouched([second])


def test_the_fill_changes_the_order_at_once_touching_no_item_and_an_unknown_one_is_refused(
    team: Team,
) -> None:
    overlap(team.project, 2)
    first, second = queue(team.project, "one", "two")
    (ana,) = annotators(team.project, 1)
    annotation_submit(item=claim(team.project, ana), user=ana, output="card_arrival")
    before = list(LabelingItem.objects.order_by("id").values_list("target_overlap", "coverage", "priority"))
    assert list(open_items(team.project).values_list("pk", flat=True)) == [first.pk, second.pk]
    project_update(project=team.project, user=team.lead, changes={"labeling_fill": LabelingFill.BREADTH})
    assert list(open_items(team.project).values_list("pk", flat=True)) == [second.pk, first.pk]
    after = list(LabelingItem.objects.order_by("id").values_list("target_overlap", "coverage", "priority"))
    assert after == before
    with pytest.raises(InvalidInput, match="labeling_fill must be one of depth, breadth") as refused:
        project_update(project=team.project, user=team.lead, changes={"labeling_fill": "sideways"})
    assert refused.value.field == "labeling_fill"
    team.project.refresh_from_db()
    assert team.project.labeling_fill == LabelingFill.BREADTH


@pytest.mark.parametrize("fill", LabelingFill.values)
def test_the_count_of_what_waits_is_the_same_in_either_fill(team: Team, fill: str) -> None:
    overlap(team.project, 2, fill)
    queue(team.project, *[f"message {n}" for n in range(5)])
    ana, ben = annotators(team.project, 2)
    for _ in range(2):
        label(team.project, ana)
    assert labeling_queue_size(project=team.project) == 5
    assert labeling_queue_size(project=team.project, user=ana) == 3
    assert labeling_queue_size(project=team.project, user=ben) == 5
    assert labeling_queue_size(project=team.project, user=ben, cap=2) == 2


# -- the pages -----------------------------------------------------------------------------------


def test_a_lead_picks_the_fill_on_the_settings_page(team: Team) -> None:
    client = logged_in(team.lead)
    url = f"/projects/{team.project.pk}/settings/"
    page = text(client.get(url))
    assert 'name="labeling_fill"' in page and "Finish started inputs first" in page
    assert '<option value="depth" selected>' in page
    assert client.post(url, settings_data(team.project, labeling_fill="breadth")).status_code == 302
    team.project.refresh_from_db()
    assert team.project.labeling_fill == LabelingFill.BREADTH
    assert client.post(url, settings_data(team.project)).status_code == 302  # left out: unchanged
    team.project.refresh_from_db()
    assert team.project.labeling_fill == LabelingFill.BREADTH
    refused = client.post(url, settings_data(team.project, labeling_fill="sideways"))
    assert refused.status_code == 200 and 'class="error"' in text(refused)


@pytest.mark.parametrize(
    ("fill", "note"),
    [
        (LabelingFill.DEPTH, "Inputs someone has started are finished first"),
        (LabelingFill.BREADTH, "Every input gets its first answer before any gets a second"),
    ],
)
def test_the_label_page_says_how_the_queue_fills(team: Team, fill: str, note: str) -> None:
    overlap(team.project, 2, fill)
    queue(team.project, "Where is my card?")
    page = text(logged_in(team.annotator).get(f"/projects/{team.project.pk}/label/"))
    assert 'data-testid="label-overlap"' in page and note in page


# -- PostgreSQL's one-statement claim ------------------------------------------------------------

postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the one-statement claim is PostgreSQL's"
)


@postgresql_only
@pytest.mark.parametrize("fill", LabelingFill.values)
def test_the_claim_is_one_statement_in_the_fills_own_order(team: Team, fill: str) -> None:
    overlap(team.project, 2, fill)
    first, second = queue(team.project, "one", "two")
    ana, ben = annotators(team.project, 2)
    annotation_submit(item=claim(team.project, ana), user=ana, output="card_arrival")
    with CaptureQueriesContext(connection) as statements:
        got = next_assignment(project=team.project, user=ben)
    sent = [q["sql"] for q in statements if "SAVEPOINT" not in q["sql"]]
    assert len(sent) == 1 and ("coverage DESC" in sent[0]) == (fill == LabelingFill.DEPTH)
    assert got is not None and got.item_id == (first.pk if fill == LabelingFill.DEPTH else second.pk)


@postgresql_only
@pytest.mark.parametrize(
    ("fill", "index"),
    [(LabelingFill.DEPTH, "labeling_item_next_depth"), (LabelingFill.BREADTH, "labeling_item_next")],
)
def test_each_fill_picks_by_a_scan_of_its_own_index_without_a_sort(team: Team, fill: str, index: str) -> None:
    overlap(team.project, 2, fill)
    queue(team.project, *[f"message {n}" for n in range(20)])
    (user,) = annotators(team.project, 1)
    with transaction.atomic(), connection.cursor() as cursor:
        # Tiny tables: left to itself the planner reads them whole; the order must need no sort.
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_bitmapscan = off")
        cursor.execute("SET LOCAL enable_sort = off")
        cursor.execute("EXPLAIN " + CANDIDATE_SQL[fill], [team.project.pk, user.pk])
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert f"Index Scan using {index} on" in plan and "Sort" not in plan, plan


def test_an_annotator_ahead_is_handed_a_new_input_past_their_answers(team: Team) -> None:
    overlap(team.project, 2)
    items = queue(team.project, *[f"message {n}" for n in range(30)])
    fast, slow = annotators(team.project, 2)
    now = timezone.now()
    LabelingAssignment.objects.bulk_create(
        LabelingAssignment(
            item=item, annotator=fast, state=AssignmentState.SUBMITTED, output="card_arrival", claimed_at=now
        )
        for item in items[:25]
    )
    LabelingItem.objects.filter(pk__in=[item.pk for item in items[:25]]).update(
        coverage=1, annotation_count=1
    )
    assert claim(team.project, fast).pk == items[25].pk
    assert claim(team.project, slow).pk == items[0].pk
