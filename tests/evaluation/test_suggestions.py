"""Suggestion runs through the services, on the CPU with the tiny model: valid labels with
probabilities over the label set, reproducible, cancel and a dead worker leave nothing, a shipped
adapter is required, and the queue can be ordered least confident first."""

from __future__ import annotations

import math

import pytest
from django.utils import timezone

from curation.errors import Conflict, InvalidInput
from curation.models import (
    ExampleStatus,
    JobStatus,
    LabelingItem,
    LabelingOrder,
    Project,
    Suggestion,
    TaskType,
)
from curation.services.labeling import items_enqueue, open_items
from curation.services.suggestion_use import latest_suggestion
from evaluation.models import SuggestionRun, SuggestionTarget
from evaluation.suggestions import (
    suggestion_run_cancel,
    suggestion_run_create,
    suggestion_run_execute,
    suggestion_run_fail_stale,
)
from tests.conftest import Team
from tests.evaluation.test_suggestion_run_numbers import said_ship
from tests.factories import ExampleFactory
from tests.training.support import LABELS, FreezeFn

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_in_tmp")]

MESSAGES = [
    "My card still has not arrived",
    "What exchange rate do you use",
    "Someone stole my card last night",
    "Where is my new card",
    "Block my card, it is lost",
]


def queued(project: Project, *texts: str) -> list[LabelingItem]:
    project.labels = LABELS
    project.save()
    return items_enqueue(project=project, user=None, inputs=[{"input": t} for t in texts]).created


def suggested(project: Project, model: str, **kwargs: object) -> SuggestionRun:
    run = suggestion_run_create(project=project, user=None, base_model=model, queue=False, **kwargs)  # type: ignore[arg-type]
    suggestion_run_execute(run.pk)
    run.refresh_from_db()
    assert run.status == JobStatus.SUCCEEDED, f"{run.error}\n{run.traceback}"
    return run


def test_classification_suggestions_are_labels_of_the_set_with_probabilities(
    team: Team, tiny_model: str
) -> None:
    items = queued(team.project, *MESSAGES)
    run = suggested(team.project, tiny_model)
    rows = list(Suggestion.objects.filter(run=run).order_by("item_id"))
    assert [row.item_id for row in rows] == [item.pk for item in items]
    assert run.n_targets == run.n_done == 5 and run.n_skipped == 0
    for row in rows:
        assert row.output in LABELS and row.valid
        probabilities = [entry["probability"] for entry in row.alternatives]
        assert 0 < row.confidence <= 1 and row.confidence == pytest.approx(probabilities[0], abs=1e-6)
        assert probabilities == sorted(probabilities, reverse=True)
        assert sum(probabilities) == pytest.approx(1.0, abs=1e-4)  # three labels: all of them listed
        assert row.alternatives[0]["label"] == row.output
    assert run.prompt_card["decoding"]["strategy"] == "label_scores"
    assert run.prompt_card["few_shot"] == 0 and run.prompt_card["adapter_sha256"] is None
    assert latest_suggestion(item=items[0]) == rows[0]


def test_a_run_is_reproducible(team: Team, tiny_model: str) -> None:
    queued(team.project, *MESSAGES)
    first, second = suggested(team.project, tiny_model), suggested(team.project, tiny_model)

    def answers(run: SuggestionRun) -> list[tuple[int | None, str, float]]:
        rows = Suggestion.objects.filter(run=run).order_by("item_id")
        return [(row.item_id, row.output, round(row.confidence, 6)) for row in rows]

    assert answers(first) == answers(second)
    # The latest succeeded run's suggestion is the one an item shows.
    item = LabelingItem.objects.order_by("id").first()
    found = latest_suggestion(item=item)
    assert found is not None and found.run_id == second.pk


def test_free_text_suggestions_carry_the_mean_token_log_probability(team: Team, tiny_model: str) -> None:
    team.project.task_type = TaskType.GENERATION
    team.project.save()
    items_enqueue(project=team.project, user=None, inputs=[{"input": text} for text in MESSAGES[:3]])
    run = suggested(team.project, tiny_model)
    rows = list(Suggestion.objects.filter(run=run))
    assert len(rows) == 3
    for row in rows:
        assert row.confidence <= 0 and math.isfinite(row.confidence)
        assert row.valid == bool(row.output) and row.alternatives == []
    assert run.prompt_card["decoding"]["strategy"] == "greedy"


def test_drafts_without_output_get_suggestions_too(team: Team, tiny_model: str) -> None:
    team.project.labels = LABELS
    team.project.save()
    draft = ExampleFactory.create(
        project=team.project, input="Card not here yet", output="", status=ExampleStatus.DRAFT
    )
    ExampleFactory.create(
        project=team.project, input="Has an output", output=LABELS[0], status=ExampleStatus.DRAFT
    )
    run = suggested(team.project, tiny_model, target=SuggestionTarget.DRAFTS)
    (row,) = Suggestion.objects.filter(run=run)
    assert row.example_id == draft.pk and row.item_id is None and row.output in LABELS
    assert latest_suggestion(example=draft) == row


def test_bad_launches_are_refused_naming_the_problem(team: Team, tiny_model: str, frozen: FreezeFn) -> None:
    with pytest.raises(InvalidInput, match="nothing to suggest for"):
        suggestion_run_create(project=team.project, user=None, base_model=tiny_model, queue=False)
    items = queued(team.project, *MESSAGES[:2])
    with pytest.raises(InvalidInput, match="base_model"):
        suggestion_run_create(project=team.project, user=None, queue=False)
    with pytest.raises(InvalidInput, match="not queued inputs of this project"):
        suggestion_run_create(
            project=team.project, user=None, base_model=tiny_model, ids=[items[0].pk, 10**9], queue=False
        )
    with pytest.raises(InvalidInput, match="no frozen version"):
        suggestion_run_create(project=team.project, user=None, base_model=tiny_model, few_shot=2, queue=False)
    with pytest.raises(InvalidInput, match="limit"):
        suggestion_run_create(project=team.project, user=None, base_model=tiny_model, limit=0, queue=False)
    with pytest.raises(InvalidInput, match="target"):
        suggestion_run_create(
            project=team.project, user=None, base_model=tiny_model, target="everything", queue=False
        )


def test_only_a_shipped_adapter_suggests(team: Team, tiny_model: str, frozen: FreezeFn) -> None:
    from tests.evaluation.test_eval_runs import evaluated, trained

    version = frozen(team.project, team.lead, count=90)
    queued(team.project, *MESSAGES)
    adapter = trained(version, tiny_model)
    with pytest.raises(InvalidInput, match="no comparison that said ship"):
        suggestion_run_create(project=team.project, user=None, training_run=adapter, queue=False)
    baseline, tuned = evaluated(version, tiny_model), evaluated(version, training_run=adapter)
    said_ship(baseline, tuned)
    run = suggested(team.project, "", training_run=adapter)
    assert run.base_model == adapter.base_model and run.adapter_sha256 == adapter.adapter_sha256
    assert run.prompt_card["adapter_sha256"] == adapter.adapter_sha256
    assert {row.output for row in Suggestion.objects.filter(run=run)} <= set(LABELS)
    assert "adapter" in run.model_label


def test_cancel_and_a_dead_worker_leave_no_suggestions(team: Team, tiny_model: str) -> None:
    queued(team.project, *MESSAGES)
    waiting = suggestion_run_create(project=team.project, user=None, base_model=tiny_model, queue=False)
    cancelled = suggestion_run_cancel(run=waiting, user=team.lead)
    assert cancelled.status == JobStatus.CANCELLED
    suggestion_run_execute(waiting.pk)  # a redelivered task does nothing
    assert not Suggestion.objects.filter(run=waiting).exists()
    with pytest.raises(Conflict, match="already cancelled"):
        suggestion_run_cancel(run=waiting, user=team.lead)

    # A cancel that arrives while it runs: seen before the next chunk; nothing is kept.
    running = suggestion_run_create(project=team.project, user=None, base_model=tiny_model, queue=False)
    SuggestionRun.objects.filter(pk=running.pk).update(cancel_requested=True)
    suggestion_run_execute(running.pk)
    running.refresh_from_db()
    assert running.status == JobStatus.CANCELLED and not Suggestion.objects.filter(run=running).exists()

    # The reaper fails a run whose worker died, and drops what it had stored.
    dead = suggested(team.project, tiny_model)
    SuggestionRun.objects.filter(pk=dead.pk).update(status=JobStatus.RUNNING, finished_at=None)
    assert suggestion_run_fail_stale(dead, "The worker stopped answering.")
    dead.refresh_from_db()
    assert dead.status == JobStatus.FAILED and "Nothing of it was kept" in dead.error
    assert not Suggestion.objects.filter(run=dead).exists()


def test_the_queue_can_hand_out_the_least_confident_first(team: Team, tiny_model: str) -> None:
    items = queued(team.project, *MESSAGES)
    team.project.labeling_order = LabelingOrder.UNCERTAINTY
    team.project.save()
    run = suggested(team.project, tiny_model)
    confidence = dict(Suggestion.objects.filter(run=run).values_list("item_id", "confidence"))
    expected = sorted(confidence, key=lambda item_id: (confidence[item_id], item_id))
    assert list(open_items(team.project).values_list("pk", flat=True)) == expected
    assert {item.pk for item in items} == set(expected)
    assert run.finished_at is not None and timezone.now() >= run.finished_at
