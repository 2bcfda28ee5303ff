"""Eval runs and comparisons through the services, on the CPU with the tiny model: the baseline
and the tuned adapter answer the same held-out items, and the comparison decides."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from curation.errors import InvalidInput
from curation.models import DatasetVersion, ExampleStatus, JobStatus, Split, VersionItem
from curation.services.heartbeat import heartbeat_claim
from evaluation.models import EvalRun, Verdict
from evaluation.services import (
    comparison_create,
    eval_execute,
    eval_run_cancel,
    eval_run_create,
    evaluation_jobs_resend,
    few_shot_items,
    flipped,
)
from tests.conftest import Team
from tests.factories import ExampleFactory, ProjectFactory
from tests.training.support import LABELS as TRAINING_LABELS
from tests.training.support import FreezeFn
from training.models import TrainingRun
from training.services import run_create, run_execute

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_in_tmp")]

# Enough for the tiny model to learn the three labels of the set.
LEARN = {"epochs": 30, "batch_size": 8, "learning_rate": 2e-2, "eval_steps": 18, "early_stopping_patience": 3}


def trained(version: DatasetVersion, model: str, **settings: Any) -> TrainingRun:
    run = run_create(version=version, user=None, base_model=model, hyperparameters={**LEARN, **settings})
    run_execute(run.pk)
    run.refresh_from_db()
    assert run.status == JobStatus.SUCCEEDED, run.error
    return run


def evaluated(version: DatasetVersion, model: str = "", **kwargs: Any) -> EvalRun:
    run = eval_run_create(version=version, user=None, base_model=model, queue=False, **kwargs)
    eval_execute(run.pk)
    run.refresh_from_db()
    assert run.status == JobStatus.SUCCEEDED, f"{run.error}\n{run.traceback}"
    return run


def test_baseline_and_tuned_runs_and_a_ship_verdict(team: Team, frozen: FreezeFn, tiny_model: str) -> None:
    version = frozen(team.project, team.lead, count=90)
    baseline = evaluated(version, tiny_model)
    training_run = trained(version, tiny_model)
    tuned = evaluated(version, training_run=training_run)

    assert baseline.n == tuned.n == version.counts["eval"] == 18
    assert set(tuned.metrics) == {"accuracy", "invalid_label", "macro_f1"}
    assert tuned.prompt_card["decoding"]["strategy"] == "greedy"
    assert tuned.prompt_card["prompt_format"] == baseline.prompt_card["prompt_format"] == "chat_template"
    assert tuned.prompt_card["adapter_sha256"] == training_run.adapter_sha256
    assert tuned.metrics["accuracy"] > baseline.metrics["accuracy"]

    comparison = comparison_create(baseline=baseline, candidate=tuned, user=None)
    assert comparison.metric == "accuracy"
    assert comparison.delta == pytest.approx(tuned.metrics["accuracy"] - baseline.metrics["accuracy"])
    assert comparison.ci_low <= comparison.delta <= comparison.ci_high
    assert comparison.verdict == Verdict.SHIP, comparison.reason
    assert comparison.mcnemar is not None and comparison.mcnemar["only_candidate"] > 0
    assert [g["metric"] for g in comparison.guardrails] == ["invalid_label"]
    assert flipped(comparison)["fixes"]

    # The same runs compared with themselves: an interval of exactly zero and no ship.
    same = comparison_create(
        baseline=tuned, candidate=evaluated(version, training_run=tuned.training_run), user=None
    )
    assert (same.delta, same.ci_low, same.ci_high) == (0.0, 0.0, 0.0)
    assert same.verdict == Verdict.NO_SHIP and "no clear improvement" in same.reason


NATO = [
    "alpha",
    "bravo",
    "charlie",
    "delta",
    "echo",
    "foxtrot",
    "golf",
    "hotel",
    "india",
    "juliet",
    "kilo",
    "lima",
    "mike",
    "november",
    "oscar",
    "papa",
    "quebec",
    "romeo",
    "sierra",
    "tango",
]


def test_few_shot_shots_of_a_classification_version_go_round_its_labels(team: Team, frozen: FreezeFn) -> None:
    # Given a train split where one label has most of the items
    labels = sorted(TRAINING_LABELS)  # the labels frozen() gives the project
    for index in range(40):
        label = labels[index % 3] if index < 9 else labels[0]
        ExampleFactory.create(
            project=team.project,
            input=f"Which form covers the {NATO[index % 20]} {NATO[index // 20]} case?",
            output=label,
            status=ExampleStatus.APPROVED,
        )
    version = frozen(team.project, team.lead, count=0, eval_fraction=0.0)

    # When 8 shots are drawn, and 3
    eight = [shot.output for shot in few_shot_items(version, 8)]
    three = [shot.output for shot in few_shot_items(version, 3)]

    # Then each of the 3 labels shows as often as 8 allows (drawn uniformly, about 6 of the
    # common one), and 3 shots show the 3 labels
    assert sorted(eight.count(label) for label in labels) == [2, 3, 3], eight
    assert len(set(three)) == 3


def test_few_shot_draws_only_from_train_and_deterministically(
    team: Team, frozen: FreezeFn, tiny_model: str
) -> None:
    version = frozen(team.project, team.lead)
    shots = few_shot_items(version, 5)
    train_ids = set(
        VersionItem.objects.filter(version=version, split=Split.TRAIN).values_list("example_id", flat=True)
    )
    assert len(shots) == 5 and {shot.example_id for shot in shots} <= train_ids
    assert [s.example_id for s in shots] == [s.example_id for s in few_shot_items(version, 5)]

    run = evaluated(version, tiny_model, few_shot=3)
    assert run.prompt_card["few_shot_example_ids"] == [s.example_id for s in few_shot_items(version, 3)]
    eval_ids = set(run.predictions.values_list("example_id", flat=True))
    assert not eval_ids & set(run.prompt_card["few_shot_example_ids"])


def test_launch_refusals_are_named(team: Team, frozen: FreezeFn, tiny_model: str) -> None:
    version = frozen(team.project, team.lead)
    other = frozen(team.project, team.lead, count=3)  # a second version of the same project
    run = trained(version, tiny_model, epochs=1)
    with pytest.raises(InvalidInput, match="evaluate it on its own version's eval split"):
        eval_run_create(version=other, user=None, training_run=run, queue=False)
    with pytest.raises(InvalidInput, match="adapts"):
        eval_run_create(
            version=version, user=None, training_run=run, base_model="/another/model", queue=False
        )
    no_eval = frozen(ProjectFactory.create(), team.lead, count=3, eval_fraction=0.0)
    with pytest.raises(InvalidInput, match="no eval split"):
        eval_run_create(version=no_eval, user=None, base_model=tiny_model, queue=False)
    # Another project's version 1 is not "version 1, not 1": the message says whose it is
    elsewhere = frozen(ProjectFactory.create(), team.lead, count=6)
    assert (elsewhere.number, version.number) == (1, 1)
    with pytest.raises(InvalidInput, match=f"Training run {run.pk} belongs to another project"):
        eval_run_create(version=elsewhere, user=None, training_run=run, queue=False)


class TestCancel:
    def test_a_queued_run_is_cancelled_at_once_over_the_api_and_never_runs(
        self, team: Team, frozen: FreezeFn, tiny_model: str, client_for: Any
    ) -> None:
        version = frozen(team.project, team.lead)
        run = eval_run_create(version=version, user=team.lead, base_model=tiny_model, queue=False)

        response = client_for(team.lead).post(f"/api/eval-runs/{run.pk}/cancel/")

        assert response.status_code == 200, response.content
        assert (response.json()["status"], response.json()["cancel_requested"]) == ("cancelled", True)
        eval_execute(run.pk)  # the message, delivered later
        run.refresh_from_db()
        assert (run.status, run.started_at, run.predictions.count()) == (JobStatus.CANCELLED, None, 0)

    def test_a_running_run_stops_at_its_next_batch_and_keeps_no_answers(
        self, team: Team, frozen: FreezeFn, tiny_model: str
    ) -> None:
        version = frozen(team.project, team.lead)
        run = eval_run_create(version=version, user=team.lead, base_model=tiny_model, queue=False)
        EvalRun.objects.filter(pk=run.pk).update(status=JobStatus.RUNNING)
        assert eval_run_cancel(run=run, user=team.lead).status == JobStatus.RUNNING  # a request only

        eval_execute(run.pk)  # the worker: it sees the request after its first batch

        run.refresh_from_db()
        assert (run.status, run.error, run.n, run.metrics) == (JobStatus.CANCELLED, "", 0, {})
        assert run.finished_at is not None and not run.predictions.exists()

    def test_only_a_lead_cancels_and_a_finished_run_is_a_409(
        self, team: Team, frozen: FreezeFn, tiny_model: str, client_for: Any
    ) -> None:
        version = frozen(team.project, team.lead)
        run = evaluated(version, tiny_model)

        refused = client_for(team.reviewer).post(f"/api/eval-runs/{run.pk}/cancel/")
        finished = client_for(team.lead).post(f"/api/eval-runs/{run.pk}/cancel/")

        assert refused.status_code == 403
        assert finished.status_code == 409
        assert "already succeeded; there is nothing to cancel" in finished.json()["errors"][0]["message"]

    def test_the_leaderboard_offers_a_lead_cancel_on_an_unfinished_run(
        self, team: Team, frozen: FreezeFn, tiny_model: str
    ) -> None:
        version = frozen(team.project, team.lead)
        run = eval_run_create(version=version, user=team.lead, base_model=tiny_model, queue=False)
        lead, reviewer = Client(), Client()
        lead.force_login(team.lead)
        reviewer.force_login(team.reviewer)
        page = f"/versions/{version.pk}/evaluation/"

        assert 'data-testid="cancel-eval-run"' in lead.get(page).content.decode()
        assert 'data-testid="cancel-eval-run"' not in reviewer.get(page).content.decode()
        response = lead.post(page, {"action": "cancel", "run": run.pk}, follow=True)

        assert "Eval run 1 (baseline) is cancelled." in response.content.decode()
        run.refresh_from_db()
        assert run.status == JobStatus.CANCELLED
        assert 'data-testid="cancel-eval-run"' not in lead.get(page).content.decode()


class TestDeliveries:
    def test_a_second_delivery_while_a_worker_answers_is_dropped(
        self, team: Team, frozen: FreezeFn, tiny_model: str
    ) -> None:
        version = frozen(team.project, team.lead)
        run = eval_run_create(version=version, user=team.lead, base_model=tiny_model, queue=False)
        EvalRun.objects.filter(pk=run.pk).update(status=JobStatus.RUNNING, host="gpu-1:42")
        heartbeat_claim(run)

        eval_execute(run.pk)

        run.refresh_from_db()
        assert (run.status, run.host, run.predictions.count()) == (JobStatus.RUNNING, "gpu-1:42", 0)

    def test_a_run_that_waited_too_long_for_a_worker_is_sent_again(
        self, team: Team, frozen: FreezeFn, tiny_model: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        version = frozen(team.project, team.lead)
        run = eval_run_create(version=version, user=team.lead, base_model=tiny_model, queue=False)
        EvalRun.objects.filter(pk=run.pk).update(created_at=timezone.now() - timedelta(minutes=10, seconds=5))
        sent: list[int] = []
        monkeypatch.setattr("evaluation.tasks.evaluate.delay", sent.append)

        assert evaluation_jobs_resend() == 1
        assert sent == [run.pk]
