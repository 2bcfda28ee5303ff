"""What annotators did with model suggestions: the accepted / edited / replaced rule per task type,
the seeded blind sample, the use recorded with an answer (on either database's answer path),
on the example a group of answers becomes, and on a draft given its output."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test.utils import CaptureQueriesContext

from curation.errors import InvalidInput
from curation.models import (
    Example,
    ExampleStatus,
    JobStatus,
    LabelingAssignment,
    LabelingItem,
    Project,
    Role,
    SuggestionUse,
    TaskType,
)
from curation.services.content import content_hash
from curation.services.examples import example_update
from curation.services.labeling import annotation_submit, items_enqueue, next_assignment
from curation.services.overlap_sample import in_sample
from curation.services.suggestion_use import NONE_SHOWN, suggestion_blind, use_of
from tests.conftest import Team
from tests.curation.suggestion_support import suggest, suggestion_run
from tests.factories import ExampleFactory, MembershipFactory, ProjectFactory

pytestmark = pytest.mark.django_db

ACCEPTED, EDITED, REPLACED, UNSEEN = (
    SuggestionUse.ACCEPTED,
    SuggestionUse.EDITED,
    SuggestionUse.REPLACED,
    SuggestionUse.UNSEEN,
)


@pytest.mark.parametrize(
    ("task_type", "suggested", "answered", "expected"),
    [
        (TaskType.CLASSIFICATION, "card_arrival", "card_arrival", ACCEPTED),
        (TaskType.CLASSIFICATION, "card_arrival", "card_linking", REPLACED),
        # Extraction: equal JSON values are equal whatever the key order and spacing.
        (TaskType.EXTRACTION, '{"count":3,"item":"mug"}', '{"item": "mug", "count": 3}', ACCEPTED),
        (TaskType.EXTRACTION, '{"count":3,"item":"mug"}', '{"count":4,"item":"mug"}', EDITED),  # 1 of 2 kept
        (TaskType.EXTRACTION, '{"a":1,"b":2,"c":3}', '{"a":1,"b":0,"c":0}', REPLACED),  # 1 of 3 kept
        (TaskType.EXTRACTION, '{"a":1,"b":2}', '{"x":1}', REPLACED),
        (TaskType.EXTRACTION, "not json", '{"a":1}', REPLACED),
        (TaskType.GENERATION, "Hello, how can I help?", "  Hello, how can I help?\n", ACCEPTED),
        (TaskType.GENERATION, "Hello, how can I help?", "Hello, how may I help you?", EDITED),
        (TaskType.GENERATION, "Hello, how can I help?", "Your card ships on Monday.", REPLACED),
        (TaskType.CHAT, "Sure, I can block it.", "Sure, I can block it now.", EDITED),
        (TaskType.CHAT, "Sure, I can block it.", "No.", REPLACED),
    ],
)
def test_use_of_follows_the_rule_for_each_task_type(
    task_type: str, suggested: str, answered: str, expected: str
) -> None:
    assert use_of(task_type, suggested, answered) == expected


def test_the_blind_sample_is_seeded_about_its_share_and_independent_of_the_overlap_sample() -> None:
    project = ProjectFactory.build(suggestion_blind_share=0.3, labeling_sample_seed=7)
    hashes = [content_hash(f"input {n}", "") for n in range(2000)]
    blind = [suggestion_blind(project, h) for h in hashes]
    assert 0.25 < sum(blind) / len(hashes) < 0.35
    assert blind == [suggestion_blind(project, h) for h in hashes]  # seeded: the same inputs again
    project.labeling_sample_seed = 8
    assert [suggestion_blind(project, h) for h in hashes] != blind
    project.labeling_sample_seed = 7
    # Independent of the overlap sample of the same share and seed: about 0.3 x 0.3 are in both.
    both = sum(b and in_sample(h, 0.3, 7) for b, h in zip(blind, hashes, strict=True)) / len(hashes)
    assert 0.05 < both < 0.14
    project.suggestion_blind_share = 0.0
    assert not any(suggestion_blind(project, h) for h in hashes)
    project.suggestion_blind_share = 1.0
    assert all(suggestion_blind(project, h) for h in hashes)


# -- recording an answer -------------------------------------------------------------------------


def queued(project: Project, *texts: str) -> list[LabelingItem]:
    return items_enqueue(project=project, user=None, inputs=[{"input": t} for t in texts]).created


def annotator(project: Project) -> User:
    return MembershipFactory.create(project=project, role=Role.ANNOTATOR).user


def answer(project: Project, user: User, output: str, suggestion_id: object = None) -> LabelingAssignment:
    claim = next_assignment(project=project, user=user)
    assert claim is not None
    annotation_submit(item=claim.item, user=user, output=output, suggestion_id=suggestion_id)
    return LabelingAssignment.objects.get(item=claim.item, annotator=user)


def recorded(assignment: LabelingAssignment) -> tuple[int | None, bool, str]:
    return assignment.suggestion_id, assignment.suggestion_shown, assignment.suggestion_use


def test_an_answer_records_its_suggestion_and_what_it_did_with_it(team: Team) -> None:
    """On PostgreSQL the usual answer is the one statement (ANSWER_CLAIM_SQL); on SQLite the ORM."""
    first, second, _ = queued(team.project, "Card not here", "Rate for euros?", "Lost my card")
    shown = [suggest(item, "card_arrival") for item in (first, second)]
    user = annotator(team.project)
    assert recorded(answer(team.project, user, "card_arrival", shown[0].pk)) == (shown[0].pk, True, ACCEPTED)
    assert recorded(answer(team.project, user, "exchange_rate")) == (shown[1].pk, True, REPLACED)
    assert recorded(answer(team.project, user, "lost_or_stolen_card")) == (None, False, "")


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the one-statement answer is PostgreSQL's")
def test_the_usual_answer_is_still_one_writing_statement(team: Team) -> None:
    team.project.labeling_overlap = 2  # the item needs another answer: nothing completes it yet
    team.project.save()
    (item,) = queued(team.project, "Card not here")
    suggestion = suggest(item, "card_arrival")
    user = annotator(team.project)
    claim = next_assignment(project=team.project, user=user)
    assert claim is not None
    with CaptureQueriesContext(connection) as statements:
        annotation_submit(item=claim.item, user=user, output="card_linking", suggestion_id=suggestion.pk)
    sent = [q["sql"] for q in statements if not q["sql"].startswith(("SAVEPOINT", "RELEASE SAVEPOINT"))]
    writes = [sql for sql in sent if "UPDATE" in sql or "INSERT" in sql]
    assert len(writes) == 1 and "suggestion_use" in writes[0]
    assert len(sent) == 2  # the item's suggestion, then the answer


def test_an_answer_without_a_claim_records_the_use_too(team: Team) -> None:
    (item,) = queued(team.project, "Card not here")
    suggestion = suggest(item, "card_arrival")
    user = annotator(team.project)
    annotation_submit(item=item, user=user, output="card_arrival")  # no claim: takes the free slot
    assert recorded(LabelingAssignment.objects.get(item=item, annotator=user)) == (
        suggestion.pk,
        True,
        ACCEPTED,
    )


def test_a_suggestion_made_while_the_card_showed_none_is_recorded_unseen_not_accepted(team: Team) -> None:
    # Given a card opened before any run suggested for its item, then a run that suggests what
    # the annotator will answer
    (item,) = queued(team.project, "Card not here")
    user = annotator(team.project)
    claim = next_assignment(project=team.project, user=user)
    assert claim is not None
    suggestion = suggest(item, "card_arrival")

    # When the card posts that it showed no suggestion (the label page's form)
    annotation_submit(item=claim.item, user=user, output="card_arrival", suggestion_id=NONE_SHOWN)

    # Then the answer is one made without seeing it: unseen, not accepted
    assert recorded(LabelingAssignment.objects.get(item=item, annotator=user)) == (
        suggestion.pk,
        False,
        UNSEEN,
    )


def test_the_label_page_posts_that_it_showed_no_suggestion(team: Team, client: Any) -> None:
    queued(team.project, "Card not here")
    client.force_login(annotator(team.project))

    card = client.get(f"/projects/{team.project.pk}/label/").content.decode()

    assert '<input type="hidden" name="suggestion" value="none">' in card


def test_an_item_of_the_blind_sample_records_its_suggestion_as_unseen(team: Team) -> None:
    team.project.suggestion_blind_share = 1.0
    team.project.save()
    (item,) = queued(team.project, "Card not here")
    suggestion = suggest(item, "card_arrival")
    got = answer(team.project, annotator(team.project), "card_arrival")
    assert recorded(got) == (suggestion.pk, False, UNSEEN)


def test_the_latest_succeeded_run_is_the_default_and_a_wrong_suggestion_id_is_refused(team: Team) -> None:
    (item,) = queued(team.project, "Card not here")
    other = queued(team.project, "Another input")[0]
    older = suggest(item, "card_linking")
    latest = suggest(item, "card_arrival")
    failed = suggest(item, "exchange_rate", run=suggestion_run(team.project, status=JobStatus.FAILED))
    elsewhere = suggest(other, "card_arrival")
    user = annotator(team.project)
    claim = next_assignment(project=team.project, user=user)
    assert claim is not None and claim.item_id == item.pk
    for wrong in (failed.pk, elsewhere.pk, 10**9, "abc"):
        with pytest.raises(InvalidInput, match=f"suggestion {wrong!r} is not a suggestion of item {item.pk}"):
            annotation_submit(item=item, user=user, output="card_arrival", suggestion_id=wrong)
    assert not LabelingAssignment.objects.filter(item=item, suggestion_use__gt="").exists()
    annotation_submit(item=item, user=user, output="card_arrival")
    assert LabelingAssignment.objects.get(item=item, annotator=user).suggestion_id == latest.pk
    assert older.pk != latest.pk


# -- the example an item becomes -----------------------------------------------------------------


def test_the_example_of_agreeing_answers_carries_the_suggestion_and_its_use(team: Team) -> None:
    team.project.labeling_overlap = 2
    team.project.save()
    (accepted_item,) = queued(team.project, "Card not here")
    suggestion = suggest(accepted_item, "card_arrival")
    a, b = annotator(team.project), annotator(team.project)
    answer(team.project, a, "card_arrival")
    answer(team.project, b, "card_arrival")
    example = Example.objects.get(labeling_item=accepted_item)
    assert (example.suggestion_id, example.suggestion_use) == (suggestion.pk, ACCEPTED)


def test_an_example_nobody_saw_the_suggestion_of_is_unseen_and_one_without_has_none(team: Team) -> None:
    team.project.suggestion_blind_share = 1.0
    team.project.save()
    blind, bare = queued(team.project, "Card not here", "Rate for euros?")
    suggestion = suggest(blind, "card_arrival")
    user = annotator(team.project)
    answer(team.project, user, "card_linking")
    answer(team.project, user, "exchange_rate")
    unseen = Example.objects.get(labeling_item=blind)
    assert (unseen.suggestion_id, unseen.suggestion_use) == (suggestion.pk, UNSEEN)
    plain = Example.objects.get(labeling_item=bare)
    assert (plain.suggestion_id, plain.suggestion_use) == (None, "")


def test_an_edited_generation_answer_makes_an_edited_example(db: None) -> None:
    project = ProjectFactory.create(task_type=TaskType.GENERATION, labels=[])
    (item,) = queued(project, "Say hello politely")
    suggest(item, "Hello, how can I help?", confidence=-0.42)
    answer(project, annotator(project), "Hello, how may I help you today?")
    assert Example.objects.get(labeling_item=item).suggestion_use == EDITED


# -- drafts --------------------------------------------------------------------------------------


def test_a_draft_given_its_output_records_what_it_did_with_its_suggestion(team: Team) -> None:
    kept = ExampleFactory.create(
        project=team.project, input="Card late", output="", status=ExampleStatus.DRAFT
    )
    changed = ExampleFactory.create(
        project=team.project, input="Euro rate", output="", status=ExampleStatus.DRAFT
    )
    bare = ExampleFactory.create(
        project=team.project, input="No suggestion", output="", status=ExampleStatus.DRAFT
    )
    first, second = suggest(kept, "card_arrival"), suggest(changed, "card_arrival")
    for example, output in ((kept, "card_arrival"), (changed, "exchange_rate"), (bare, "card_linking")):
        example_update(
            example=example, user=team.annotator, revision=example.revision, changes={"output": output}
        )
    got = {e.pk: (e.suggestion_id, e.suggestion_use) for e in Example.objects.filter(project=team.project)}
    assert got == {kept.pk: (first.pk, ACCEPTED), changed.pk: (second.pk, REPLACED), bare.pk: (None, "")}
    # A later edit of an output keeps what was recorded when it was first given.
    kept.refresh_from_db()
    example_update(
        example=kept, user=team.annotator, revision=kept.revision, changes={"output": "card_linking"}
    )
    kept.refresh_from_db()
    assert (kept.suggestion_id, kept.suggestion_use) == (first.pk, ACCEPTED)
