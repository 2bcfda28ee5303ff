"""The labeling queue's services: queueing inputs, handing out items by coverage, claims that
expire, skips, and what an item becomes once it has its annotations."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.db import connection, transaction
from django.db.models import Exists, OuterRef
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from curation.errors import Conflict, InvalidInput
from curation.models import (
    AssignmentState,
    Example,
    ExampleStatus,
    Flag,
    FlagKind,
    FlagResolution,
    FlagStatus,
    ItemStatus,
    LabelingAssignment,
    LabelingFill,
    LabelingItem,
    Membership,
    Project,
    Role,
    SuggestionUse,
    TaskType,
)
from curation.services.flags import flag_resolve
from curation.services.labeling import (
    CANDIDATE_SQL,
    annotation_submit,
    assignment_skip,
    items_enqueue,
    next_assignment,
    open_items,
    release_expired_claims,
    retarget_untouched,
)
from curation.services.overlap_sample import in_sample, target_overlap, target_overlap_sql
from curation.services.projects import project_update
from curation.services.versions import included_examples
from tests.conftest import Team
from tests.curation.suggestion_support import suggest
from tests.factories import MembershipFactory, ProjectFactory

pytestmark = pytest.mark.django_db


def annotators(project: Project, count: int) -> list[User]:
    return [MembershipFactory.create(project=project, role=Role.ANNOTATOR).user for _ in range(count)]


def queue(project: Project, *texts: str, lead: User | None = None) -> list[LabelingItem]:
    return items_enqueue(project=project, user=lead, inputs=[{"input": t} for t in texts]).created


def label(project: Project, user: User, output: str) -> LabelingItem:
    assignment = next_assignment(project=project, user=user)
    assert assignment is not None
    annotation_submit(item=assignment.item, user=user, output=output)
    return LabelingItem.objects.get(pk=assignment.item_id)


def test_queued_inputs_are_validated_and_an_input_queued_twice_is_counted_not_duplicated(team: Team) -> None:
    first = items_enqueue(project=team.project, user=team.lead, inputs=[{"input": "Where is my card?"}])
    again = items_enqueue(
        project=team.project,
        user=team.lead,
        inputs=[{"input": "Where is my card?"}, {"input": "Rate today?"}],
    )
    assert len(first.created) == 1 and len(again.created) == 1 and again.already_queued == 1
    with pytest.raises(InvalidInput, match=r"inputs\[1\]: input must not be empty"):
        items_enqueue(project=team.project, user=team.lead, inputs=[{"input": "ok"}, {"input": " "}])
    with pytest.raises(InvalidInput, match="unknown fields: output"):
        items_enqueue(project=team.project, user=team.lead, inputs=[{"input": "x", "output": "card_arrival"}])
    assert LabelingItem.objects.filter(project=team.project).count() == 2


def test_breadth_hands_out_least_covered_first_and_never_the_same_item_twice_to_one_annotator(
    team: Team,
) -> None:
    team.project.labeling_overlap = 2
    team.project.labeling_fill = LabelingFill.BREADTH
    team.project.save()
    first, second = queue(team.project, "one", "two")
    ann_a, ann_b = annotators(team.project, 2)
    a1 = next_assignment(project=team.project, user=ann_a)
    assert a1 is not None and a1.item_id == first.pk
    # Asking again returns the same live claim, not a second one.
    again = next_assignment(project=team.project, user=ann_a)
    assert again is not None and again.pk == a1.pk
    # Another annotator gets the untouched item before the half-covered one.
    b1 = next_assignment(project=team.project, user=ann_b)
    assert b1 is not None and b1.item_id == second.pk
    annotation_submit(item=a1.item, user=ann_a, output="card_arrival")
    a2 = next_assignment(project=team.project, user=ann_a)
    assert a2 is not None and a2.item_id == second.pk
    annotation_submit(item=a2.item, user=ann_a, output="card_arrival")
    assert next_assignment(project=team.project, user=ann_a) is None  # labeled both


def test_an_item_is_never_handed_out_beyond_its_overlap(team: Team) -> None:
    (item,) = queue(team.project, "only one")
    people = annotators(team.project, 3)
    got = [next_assignment(project=team.project, user=user) for user in people]
    assert [g.item_id if g else None for g in got] == [item.pk, None, None]


def test_an_expired_claim_gives_its_slot_back_and_nothing_is_lost(team: Team) -> None:
    (item,) = queue(team.project, "slow one")
    slow, quick = annotators(team.project, 2)
    claim = next_assignment(project=team.project, user=slow)
    assert claim is not None
    assert next_assignment(project=team.project, user=quick) is None
    later = timezone.now() + timedelta(hours=1)
    got = next_assignment(project=team.project, user=quick, now=later)
    assert got is not None and got.item_id == item.pk
    assert not LabelingAssignment.objects.filter(annotator=slow).exists()
    annotation_submit(item=got.item, user=quick, output="card_linking")
    # The slow annotator's late answer finds no slot left and says so.
    with pytest.raises(Conflict, match="has all the annotations it needs"):
        annotation_submit(item=item, user=slow, output="card_arrival")
    assert Example.objects.get(labeling_item=item).output == "card_linking"


def test_release_expired_claims_frees_only_expired_ones(team: Team) -> None:
    team.project.labeling_overlap = 2
    team.project.save()
    (item,) = queue(team.project, "x")
    a, b = annotators(team.project, 2)
    next_assignment(project=team.project, user=a)
    next_assignment(project=team.project, user=b, now=timezone.now() + timedelta(minutes=15))
    assert release_expired_claims(now=timezone.now() + timedelta(minutes=25)) == 1
    item.refresh_from_db()
    assert item.coverage == 1


def test_release_gives_back_every_expired_slot_of_items_with_several_at_once(team: Team) -> None:
    team.project.labeling_overlap = 3
    team.project.save()
    crowded, single = queue(team.project, "a", "b")
    people = annotators(team.project, 4)
    now = timezone.now()
    for user, item, minutes in [(p, crowded, 20) for p in people[:3]] + [(people[3], single, 120)]:
        LabelingAssignment.objects.create(
            item=item, annotator=user, claimed_at=now, expires_at=now + timedelta(minutes=minutes)
        )
    LabelingItem.objects.filter(pk=crowded.pk).update(coverage=3)
    LabelingItem.objects.filter(pk=single.pk).update(coverage=1)
    assert release_expired_claims(now=now + timedelta(hours=1), project=team.project) == 3
    assert LabelingItem.objects.get(pk=crowded.pk).coverage == 0
    assert LabelingItem.objects.get(pk=single.pk).coverage == 1  # the live claim keeps its slot
    assert list(LabelingAssignment.objects.values_list("annotator", flat=True)) == [people[3].pk]


def test_a_claim_comes_back_as_stored_with_its_item_and_project_inside_a_transaction(team: Team) -> None:
    queue(team.project, "first", "second")
    (user,) = annotators(team.project, 1)
    with transaction.atomic():
        claim = next_assignment(project=team.project, user=user)
    assert claim is not None
    stored = LabelingAssignment.objects.select_related("item__project").get(pk=claim.pk)
    fields = ("item_id", "annotator_id", "state", "output", "claimed_at", "expires_at", "submitted_at")
    assert [getattr(claim, f) for f in fields] == [getattr(stored, f) for f in fields]
    assert (claim.item.input, claim.item.coverage, claim.item.project) == ("first", 1, team.project)
    assert stored.item.coverage == 1
    annotation_submit(item=claim.item, user=user, output="card_arrival")
    assert LabelingItem.objects.get(pk=claim.item_id).status == ItemStatus.AGREED


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the one-statement claim is PostgreSQL's")
@pytest.mark.parametrize(
    ("fill", "order"), [(LabelingFill.BREADTH, [5, 0, 1]), (LabelingFill.DEPTH, [0, 1, 5])]
)
def test_the_claim_statement_picks_what_open_items_hands_out_first(
    team: Team, fill: str, order: list[int]
) -> None:
    team.project.labeling_overlap = 3
    team.project.labeling_fill = fill
    team.project.save()
    items = queue(team.project, *[f"message {n}" for n in range(6)])
    LabelingItem.objects.filter(pk__in=[items[0].pk, items[1].pk]).update(coverage=2)
    LabelingItem.objects.filter(pk=items[2].pk).update(coverage=3)
    LabelingItem.objects.filter(pk=items[3].pk).update(status=ItemStatus.AGREED)
    (user,) = annotators(team.project, 1)
    LabelingAssignment.objects.create(
        item=items[4], annotator=user, state=AssignmentState.SKIPPED, claimed_at=timezone.now()
    )
    mine = LabelingAssignment.objects.filter(item=OuterRef("pk"), annotator=user)
    expected = list(open_items(team.project).exclude(Exists(mine)).values_list("pk", flat=True))
    assert expected == [items[n].pk for n in order]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(CANDIDATE_SQL[fill], [team.project.pk, user.pk])
        assert cursor.fetchone() == (expected[0],)


def sent(statements: CaptureQueriesContext) -> list[str]:
    """The statements, less the savepoints of the test's own transaction."""
    return [q["sql"] for q in statements if not q["sql"].startswith(("SAVEPOINT", "RELEASE SAVEPOINT"))]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the one-statement claim is PostgreSQL's")
def test_a_hand_out_is_one_statement_held_back_by_a_live_or_expired_claim(team: Team) -> None:
    queue(team.project, "first", "second", "third")
    holder, other = annotators(team.project, 2)
    with CaptureQueriesContext(connection) as statements:
        claim = next_assignment(project=team.project, user=holder)
    assert claim is not None and len(sent(statements)) == 1
    # Asking again: the claim statement claims nothing and says the user holds a live claim.
    with CaptureQueriesContext(connection) as statements:
        again = next_assignment(project=team.project, user=holder)
    assert again is not None and again.pk == claim.pk
    assert LabelingAssignment.objects.filter(annotator=holder).count() == 1
    assert "claim_id" in sent(statements)[0] and len(sent(statements)) == 2  # claim, the live claim
    # An expired claim in the project holds every claim back until it is released.
    later = timezone.now() + timedelta(hours=1)
    got = next_assignment(project=team.project, user=other, now=later)
    assert got is not None and got.item_id == claim.item_id  # first in line again once released
    assert not LabelingAssignment.objects.filter(annotator=holder).exists()


def synchronous_commit() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        return str(cursor.fetchone()[0])


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the one-statement claim is PostgreSQL's")
@pytest.mark.django_db(transaction=True)
def test_a_claim_alone_commits_without_waiting_for_the_disk_and_nothing_else_does(team: Team) -> None:
    queue(team.project, "first", "second")
    (user,) = annotators(team.project, 1)
    with CaptureQueriesContext(connection) as statements:
        claim = next_assignment(project=team.project, user=user)
    assert claim is not None and LabelingAssignment.objects.filter(pk=claim.pk).exists()
    assert "set_config('synchronous_commit', 'off', true)" in statements[0]["sql"]
    assert synchronous_commit() == "on"  # its own transaction only: the answer commits durably
    annotation_submit(item=claim.item, user=user, output="card_arrival")
    with transaction.atomic():  # a caller's transaction keeps the setting it has
        with CaptureQueriesContext(connection) as statements:
            assert next_assignment(project=team.project, user=user) is not None
        assert "synchronous_commit" not in statements[0]["sql"]
        assert synchronous_commit() == "on"


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the one-statement answer is PostgreSQL's")
def test_an_answer_that_leaves_the_item_wanting_more_is_one_statement_and_the_last_completes_it(
    team: Team,
) -> None:
    team.project.labeling_overlap = 2
    team.project.save()
    (item,) = queue(team.project, "My card has not come yet")
    first, second = annotators(team.project, 2)
    claim = next_assignment(project=team.project, user=first)
    assert claim is not None
    with CaptureQueriesContext(connection) as statements:
        answer = annotation_submit(item=claim.item, user=first, output="card_arrival")
    assert len(sent(statements)) == 1 and "answered AS" in sent(statements)[0]  # no lookup, no BEGIN
    stored = LabelingAssignment.objects.get(pk=answer.pk)
    assert (stored.state, stored.output, stored.expires_at) == (
        AssignmentState.SUBMITTED,
        "card_arrival",
        None,
    )
    assert stored.submitted_at is not None and stored.suggestion_id is None and not stored.suggestion_shown
    assert (answer.state, answer.output, answer.item_id) == (stored.state, stored.output, item.pk)
    item.refresh_from_db()
    assert (item.coverage, item.annotation_count, item.status) == (1, 1, ItemStatus.QUEUED)
    # The last answer takes the transactional path: the item completes with it.
    item = label(team.project, second, "card_arrival")
    assert (item.annotation_count, item.status) == (2, ItemStatus.AGREED)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the one-statement answer is PostgreSQL's")
def test_an_answer_to_an_item_with_a_suggestion_records_what_it_did_with_it(team: Team) -> None:
    team.project.labeling_overlap = 2
    team.project.save()
    (item,) = queue(team.project, "My card has not come yet")
    suggestion = suggest(item, "card_arrival")
    (user,) = annotators(team.project, 1)
    claim = next_assignment(project=team.project, user=user)
    assert claim is not None
    answer = annotation_submit(item=claim.item, user=user, output="card_arrival")
    stored = LabelingAssignment.objects.get(pk=answer.pk)
    assert (stored.suggestion_id, stored.suggestion_use) == (suggestion.pk, SuggestionUse.ACCEPTED)
    item.refresh_from_db()
    assert (item.annotation_count, item.status) == (1, ItemStatus.QUEUED)


def test_a_skip_returns_the_slot_and_is_not_handed_to_the_same_annotator_again(team: Team) -> None:
    (item,) = queue(team.project, "hard to say")
    skipper, other = annotators(team.project, 2)
    claim = next_assignment(project=team.project, user=skipper)
    assert claim is not None
    assignment_skip(item=claim.item, user=skipper)
    assert next_assignment(project=team.project, user=skipper) is None
    got = next_assignment(project=team.project, user=other)
    assert got is not None and got.item_id == item.pk
    assert LabelingAssignment.objects.get(annotator=skipper).state == AssignmentState.SKIPPED


def test_answers_outside_the_label_set_and_double_submits_are_refused(team: Team) -> None:
    (item,) = queue(team.project, "x")
    (user,) = annotators(team.project, 1)
    next_assignment(project=team.project, user=user)
    with pytest.raises(InvalidInput, match="not one of the project's labels"):
        annotation_submit(item=item, user=user, output="no_such_label")
    annotation_submit(item=item, user=user, output="card_arrival")
    with pytest.raises(Conflict, match="already labeled"):
        annotation_submit(item=item, user=user, output="card_arrival")


def test_an_answer_without_a_claim_takes_a_free_slot(team: Team) -> None:
    # Given an item nobody claimed (the annotator posts before asking for it)
    (item,) = queue(team.project, "x")
    (user,) = annotators(team.project, 1)
    # When they answer it
    assignment = annotation_submit(item=item, user=user, output="card_arrival")
    # Then the answer is recorded in a new assignment, the slot counted, the item complete
    stored = LabelingAssignment.objects.get(pk=assignment.pk)
    assert (stored.state, stored.output) == (AssignmentState.SUBMITTED, "card_arrival")
    item.refresh_from_db()
    assert (item.coverage, item.annotation_count, item.status) == (1, 1, ItemStatus.AGREED)


def test_agreeing_annotations_become_one_submitted_example_with_its_provenance(team: Team) -> None:
    team.project.labeling_overlap = 2
    team.project.save()
    (item,) = queue(team.project, "My card has not come yet")
    a, b = annotators(team.project, 2)
    label(team.project, a, "card_arrival")
    item = label(team.project, b, "card_arrival")
    assert item.status == ItemStatus.AGREED
    example = Example.objects.get(labeling_item=item)
    assert (example.output, example.status, example.created_by) == (
        "card_arrival",
        ExampleStatus.SUBMITTED,
        a,
    )
    answers = {(x.annotator, x.output) for x in item.assignments.all()}
    assert answers == {(a, "card_arrival"), (b, "card_arrival")}


def test_a_disagreement_becomes_a_flag_that_keeps_the_input_out_of_versions_until_resolved(
    team: Team,
) -> None:
    team.project.labeling_overlap = 3
    team.project.save()
    (item,) = queue(team.project, "I was charged twice at the exchange")
    a, b, c = annotators(team.project, 3)
    label(team.project, a, "exchange_rate")
    label(team.project, b, "card_arrival")
    item = label(team.project, c, "exchange_rate")
    assert item.status == ItemStatus.DISAGREED
    flag = Flag.objects.get(project=team.project, kind=FlagKind.DISAGREEMENT)
    answers = {e.output: e for e in flag.examples.all()}
    assert set(answers) == {"exchange_rate", "card_arrival"}
    assert "'exchange_rate' from 2" in flag.note
    for example in answers.values():  # even approved, nothing of it enters a version
        Example.objects.filter(pk=example.pk).update(status=ExampleStatus.APPROVED)
    assert not included_examples(team.project).filter(labeling_item=item).exists()
    flag_resolve(
        flag=flag, user=team.lead, resolution=FlagResolution.KEEP_ONE, keep=answers["exchange_rate"].pk
    )
    flag.refresh_from_db()
    assert flag.status == FlagStatus.RESOLVED
    assert Example.objects.get(pk=answers["card_arrival"].pk).status == ExampleStatus.REJECTED
    assert list(included_examples(team.project).filter(labeling_item=item)) == [answers["exchange_rate"]]


def test_a_disagreement_resolved_by_an_edit_keeps_the_edited_answer_and_reject_all_drops_the_input(
    team: Team,
) -> None:
    team.project.labeling_overlap = 2
    team.project.save()
    queue(team.project, "one", "two")
    a, b = annotators(team.project, 2)
    for user in (a, b):
        label(team.project, user, "card_arrival" if user == a else "card_linking")
        label(team.project, user, "card_arrival" if user == a else "card_linking")
    first, second = Flag.objects.filter(kind=FlagKind.DISAGREEMENT).order_by("id")
    kept = first.examples.order_by("id").first()
    assert kept is not None
    flag_resolve(
        flag=first,
        user=team.lead,
        resolution=FlagResolution.KEEP_ONE,
        keep=kept.pk,
        output="lost_or_stolen_card",
    )
    assert Example.objects.get(pk=kept.pk).output == "lost_or_stolen_card"
    flag_resolve(flag=second, user=team.lead, resolution=FlagResolution.REJECT_ALL)
    assert set(second.examples.values_list("status", flat=True)) == {ExampleStatus.REJECTED}
    with pytest.raises(InvalidInput, match="disagreement flags only"):
        contradiction = Flag.objects.create(
            project=team.project, kind=FlagKind.CONTRADICTION, examples_key="k"
        )
        flag_resolve(flag=contradiction, user=team.lead, resolution=FlagResolution.REJECT_ALL)


def test_generation_answers_that_differ_become_alternatives_not_a_flag(db: None) -> None:
    project = ProjectFactory.create(task_type=TaskType.GENERATION, labels=[], labeling_overlap=2)
    queue(project, "Say hello politely")
    a, b = annotators(project, 2)
    label(project, a, "Hello, how can I help?")
    item = label(project, b, "Good morning! What can I do for you?")
    assert item.status == ItemStatus.ALTERNATIVES
    assert Example.objects.filter(labeling_item=item, status=ExampleStatus.SUBMITTED).count() == 2
    assert not Flag.objects.filter(project=project).exists()


def test_extraction_answers_agree_when_their_json_is_equal(db: None) -> None:
    project = ProjectFactory.create(task_type=TaskType.EXTRACTION, labels=[], labeling_overlap=2)
    queue(project, "Ship 3 red mugs")
    a, b = annotators(project, 2)
    label(project, a, '{"item": "mug", "count": 3}')
    item = label(project, b, '{"count":3,"item":"mug"}')
    assert item.status == ItemStatus.AGREED


def test_the_overlap_sample_is_seeded_and_sql_decides_as_python_does(team: Team) -> None:
    project = team.project
    project.labeling_overlap, project.labeling_overlap_share, project.labeling_sample_seed = 3, 0.3, 7
    project.save()
    items = queue(project, *[f"input {n}" for n in range(400)])
    expected = {item.pk: target_overlap(project, item.input_hash) for item in items}
    share = sum(1 for v in expected.values() if v == 3) / len(items)
    assert 0.2 < share < 0.4
    assert all(in_sample(i.input_hash, 1.0, 7) for i in items)
    expression, params = target_overlap_sql(project)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id, {expression} FROM curation_labelingitem WHERE project_id = %s", [*params, project.pk]
        )
        assert dict(cursor.fetchall()) == expected
    other_seed = sum(in_sample(i.input_hash, 0.3, 8) == in_sample(i.input_hash, 0.3, 7) for i in items)
    assert other_seed < len(items)


def test_a_settings_change_retargets_only_items_nobody_has_touched(team: Team) -> None:
    first, second = queue(team.project, "a", "b")
    (user,) = annotators(team.project, 1)
    next_assignment(project=team.project, user=user)
    team.project.labeling_overlap = 2
    team.project.save()
    assert retarget_untouched(team.project) == 1
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.target_overlap, second.target_overlap) == (1, 2)


def test_annotators_in_other_projects_cannot_reach_this_queue_through_ids(team: Team) -> None:
    (item,) = queue(team.project, "x")
    stranger = Membership.objects.create(project=ProjectFactory.create(), user=team.outsider, role=Role.LEAD)
    assert next_assignment(project=stranger.project, user=team.outsider) is None
    assert LabelingItem.objects.get(pk=item.pk).coverage == 0


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("labeling_overlap", 6),
        ("labeling_overlap", 0),
        ("labeling_overlap_share", 0),
        ("labeling_sample_seed", -1),
    ],
)
def test_labeling_settings_out_of_range_are_refused_naming_the_field(
    team: Team, field: str, value: int
) -> None:
    with pytest.raises(InvalidInput, match=field):
        project_update(project=team.project, user=team.lead, changes={field: value})
    team.project.refresh_from_db()
    assert (team.project.labeling_overlap, team.project.labeling_overlap_share) == (1, 1.0)


def test_changing_the_overlap_through_settings_retargets_untouched_items(team: Team) -> None:
    (item,) = queue(team.project, "x")
    project_update(project=team.project, user=team.lead, changes={"labeling_overlap": 3})
    item.refresh_from_db()
    assert item.target_overlap == 3
