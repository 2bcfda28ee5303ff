"""The quality of a run's suggestions against hand-computed small cases: the final human output,
each annotator's answer, answers given blind, confidence bands, and intervals that hold the point
estimate. Suggestions are written directly (no model): the figures are what is under test."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import User

from curation.models import (
    ExampleStatus,
    Flag,
    FlagKind,
    JobStatus,
    LabelingAssignment,
    LabelingItem,
    Project,
    Suggestion,
    SuggestionUse,
    TaskType,
)
from curation.services.flags import flag_resolve
from curation.services.labeling import annotation_submit, items_enqueue
from evaluation import metrics, stats
from evaluation.models import SuggestionRun, SuggestionTarget
from evaluation.suggestion_quality import Estimate, SuggestionQuality, suggestion_quality
from tests.conftest import Team
from tests.factories import ExampleFactory
from tests.training.support import LABELS

pytestmark = pytest.mark.django_db

CARD, RATE, LOST = LABELS


def a_run(project: Project, target: str = SuggestionTarget.QUEUE) -> SuggestionRun:
    return SuggestionRun.objects.create(
        project=project, base_model="/models/base", status=JobStatus.SUCCEEDED, target=target
    )


def suggest(
    run: SuggestionRun, output: str, confidence: float, *, valid: bool = True, **target: object
) -> Suggestion:
    return Suggestion.objects.create(
        run=run, project=run.project, output=output, confidence=confidence, valid=valid, **target
    )


def answer(item: LabelingItem, user: User, output: str, *, shown: bool, seen: Suggestion) -> None:
    """An annotator's answer, recorded with whether the suggestion was shown first."""
    annotation_submit(item=item, user=user, output=output)
    LabelingAssignment.objects.filter(item=item, annotator=user).update(
        suggestion=seen, suggestion_shown=shown
    )


def within(estimate: Estimate | None, value: float, n: int) -> None:
    assert estimate is not None
    assert (estimate.value, estimate.n) == (pytest.approx(value), n)
    assert estimate.low <= estimate.value <= estimate.high


@pytest.fixture
def classified(team: Team) -> tuple[Team, SuggestionRun]:
    """Four queued inputs with two answers each wanted: A agreed and suggested right, B agreed and
    suggested wrong, C disagreed (the flag still open), D not answered yet. The annotator answers
    blind, the reviewer sees the suggestion first."""
    project = team.project
    project.labels, project.labeling_overlap, project.labeling_overlap_share = LABELS, 2, 1.0
    project.save()
    items = items_enqueue(
        project=project, user=None, inputs=[{"input": f"Input {c}"} for c in "ABCD"]
    ).created
    run = a_run(project)
    rows = [
        suggest(run, CARD, 0.9, item=items[0]),
        suggest(run, RATE, 0.8, item=items[1]),
        suggest(run, CARD, 0.4, item=items[2]),
        suggest(run, LOST, 0.3, item=items[3]),
    ]
    for item, row, blind_answer, seen_answer in [
        (items[0], rows[0], CARD, CARD),
        (items[1], rows[1], LOST, LOST),
        (items[2], rows[2], CARD, RATE),
    ]:
        answer(item, team.annotator, blind_answer, shown=False, seen=row)
        answer(item, team.reviewer, seen_answer, shown=True, seen=row)
    return team, run


def test_classification_accuracy_on_final_outputs_answers_and_blind_answers(
    classified: tuple[Team, SuggestionRun],
) -> None:
    team, run = classified
    quality = suggestion_quality(run)
    assert isinstance(quality, SuggestionQuality) and quality.metrics == ("accuracy",)
    assert quality.n_suggestions == 4
    within(quality.valid, 1.0, 4)
    # Final outputs: A right, B wrong; C's disagreement is still open, D unanswered.
    within(quality.final["accuracy"], 1 / 2, 2)
    assert quality.n_labeled == 2
    # Every answer: A 2 right, B 2 wrong, C 1 right (the annotator) and 1 wrong.
    within(quality.answers["accuracy"], 3 / 6, 6)
    # Blind answers only (the annotator's): A right, B wrong, C right.
    within(quality.blind["accuracy"], 2 / 3, 3)

    # The lead keeps the reviewer's answer to C: it becomes C's final output, and the suggestion was wrong.
    flag = Flag.objects.get(kind=FlagKind.DISAGREEMENT)
    kept = flag.examples.get(output=RATE)
    flag_resolve(flag=flag, user=team.lead, resolution="keep_one", keep=kept.pk)
    quality = suggestion_quality(run)
    within(quality.final["accuracy"], 1 / 3, 3)
    # Least confident first: C (0.4) wrong, B (0.8) wrong, A (0.9) right.
    assert [(band.confidence_low, band.estimate.value, band.estimate.n) for band in quality.bands] == [
        (0.4, 0.0, 1),
        (0.8, 0.0, 1),
        (0.9, 1.0, 1),
    ]
    assert quality.rows()[0]["cells"] == [
        quality.final["accuracy"],
        quality.answers["accuracy"],
        quality.blind["accuracy"],
    ]
    assert json.loads(json.dumps(quality.as_dict()))["blind"]["accuracy"]["n"] == 3


def test_the_interval_is_seeded_and_holds_the_point_estimate() -> None:
    scores = [1.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0, 1.0]
    first = stats.bootstrap_mean(scores, resamples=1000, seed=3)
    assert first == stats.bootstrap_mean(scores, resamples=1000, seed=3)
    assert first.delta == pytest.approx(0.75) and 0.25 <= first.low < 0.75 < first.high <= 1.0
    constant = stats.bootstrap_mean([1.0] * 5, resamples=1000)
    assert (constant.delta, constant.low, constant.high) == (1.0, 1.0, 1.0)


def test_nothing_labeled_yet_gives_no_figures(team: Team) -> None:
    team.project.labels = LABELS
    team.project.save()
    (item,) = items_enqueue(project=team.project, user=None, inputs=[{"input": "Lonely"}]).created
    run = a_run(team.project)
    suggest(run, CARD, 0.5, item=item)
    quality = suggestion_quality(run)
    assert quality.final == quality.answers == quality.blind == {"accuracy": None}
    assert quality.bands == [] and quality.n_labeled == 0
    within(quality.valid, 1.0, 1)


def test_extraction_schema_validity_and_exact_match_on_drafts(team: Team) -> None:
    project = team.project
    project.task_type = TaskType.EXTRACTION
    project.output_schema = {"type": "object", "properties": {"city": {"type": "string"}}}
    project.save()
    drafts = [
        ExampleFactory.create(project=project, input=f"Draft {n}", output="", status=ExampleStatus.DRAFT)
        for n in range(4)
    ]
    run = a_run(project, SuggestionTarget.DRAFTS)
    same = suggest(run, '{"city":"Oslo","n":1}', -0.1, example=drafts[0])
    suggest(run, '{"city":"Bergen"}', -0.5, example=drafts[1])
    suggest(run, '{"city":7}', -2.0, valid=False, example=drafts[2])
    suggest(run, '{"city":"Rome"}', -0.2, example=drafts[3])  # still a draft: not counted
    written = [('{"n": 1, "city": "Oslo"}', same), ('{"city": "Tromso"}', None), ('{"city": "7"}', None)]
    for draft, (output, seen) in zip(drafts, written, strict=False):
        use = SuggestionUse.UNSEEN if seen is not None else SuggestionUse.REPLACED
        type(draft).objects.filter(pk=draft.pk).update(
            output=output, status=ExampleStatus.SUBMITTED, suggestion=seen, suggestion_use=use
        )
    quality = suggestion_quality(run)
    assert quality.metrics == ("schema_valid", "exact_match") and quality.primary_metric == "exact_match"
    within(quality.valid, 3 / 4, 4)
    within(quality.final["schema_valid"], 2 / 3, 3)
    within(quality.final["exact_match"], 1 / 3, 3)  # the same object, keys in another order
    assert quality.answers == quality.final  # one person wrote each draft
    within(quality.blind["exact_match"], 1.0, 1)  # the first, answered without seeing it


def test_generation_chrf_against_the_best_alternative(team: Team) -> None:
    project = team.project
    project.task_type = TaskType.GENERATION
    project.labeling_overlap, project.labeling_overlap_share = 2, 1.0
    project.save()
    (item,) = items_enqueue(project=project, user=None, inputs=[{"input": "Greet the customer"}]).created
    run = a_run(project)
    row = suggest(run, "Hello, how can I help you today?", -0.7, item=item)
    answer(item, team.annotator, "Hello, how can I help you today?", shown=False, seen=row)
    answer(item, team.reviewer, "Good morning! What do you need?", shown=True, seen=row)
    quality = suggestion_quality(run)
    within(quality.final["chrf"], 1.0, 1)  # alternatives: it matches one of them exactly
    other = metrics.chrf(row.output, ["Good morning! What do you need?"])
    within(quality.answers["chrf"], (1.0 + other) / 2, 2)
    within(quality.blind["chrf"], 1.0, 1)
