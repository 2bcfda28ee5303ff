"""Suggestion runs generate as evaluation does: training's length rule leaves out (and counts) an
input too long for the model before anything is asked, and the run answers on the engine
FINCH_GENERATION_ENGINE gives (vLLM here is a FAKE module checking Finch's side of the call:
tests/evaluation/vllm_fake.py), except classification, whose labels are scored on transformers.
On the CPU with the tiny model."""

from __future__ import annotations

import random
import sys
from typing import Any

import pytest

from curation.models import JobStatus, Project, Suggestion, TaskType
from curation.services.labeling import items_enqueue
from evaluation import engines, suggest
from evaluation.models import SuggestionRun
from evaluation.suggestions import suggestion_run_create, suggestion_run_execute
from tests.conftest import Team
from tests.evaluation import vllm_fake
from tests.training.support import LABELS
from training import modeling
from training.prompts import Messages

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_in_tmp")]

MESSAGES = ["My card still has not arrived", "What exchange rate do you use", "Someone stole my card"]


def long_text(seed: int) -> str:
    """Random letters: well over the tiny model's 1024 tokens."""
    rng = random.Random(seed)
    return "".join(rng.choice("abcdefghijklmnopqrstuvwxyz ") for _ in range(3_000))


def queued(project: Project, task_type: str, *texts: str) -> dict[str, int]:
    """The texts in the queue, by text -> item id."""
    project.task_type, project.labels = task_type, LABELS
    project.save()
    created = items_enqueue(project=project, user=None, inputs=[{"input": text} for text in texts]).created
    return {item.input: item.pk for item in created}


def ran(project: Project, model: str) -> SuggestionRun:
    run = suggestion_run_create(project=project, user=None, base_model=model, queue=False)
    suggestion_run_execute(run.pk)
    run.refresh_from_db()
    return run


@pytest.mark.parametrize("task_type", [TaskType.CLASSIFICATION, TaskType.GENERATION])
def test_inputs_longer_than_max_seq_length_are_skipped_counted_and_never_asked(
    task_type: str, team: Team, tiny_model: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given short inputs and two far longer than the model takes, and a record of what is asked
    longs = [long_text(seed) for seed in range(2)]
    ids = queued(team.project, task_type, MESSAGES[0], longs[0], MESSAGES[1], longs[1], MESSAGES[2])
    asked: list[Messages] = []
    real = suggest.propose

    def recording(engine: Any, conversations: list[Messages], **kwargs: Any) -> Any:
        asked.extend(conversations)
        return real(engine, conversations, **kwargs)

    monkeypatch.setattr(suggest, "propose", recording)

    # When a suggestion run goes through them
    run = ran(team.project, tiny_model)

    # Then the short ones get a suggestion, the long ones are counted as skipped and never asked
    assert run.status == JobStatus.SUCCEEDED, run.error
    assert (run.n_targets, run.n_done, run.n_skipped) == (5, 5, 2)
    suggested = set(Suggestion.objects.filter(run=run).values_list("item_id", flat=True))
    assert suggested == {ids[text] for text in MESSAGES}
    assert len(asked) == 3 and not any(
        text[:200] in message["content"] for text in longs for c in asked for message in c
    )
    assert run.prompt_card["max_seq_length"] == 1024


def test_a_generation_run_answers_on_vllm_when_the_host_has_it(
    team: Team, tiny_model: str, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a GPU worker with vLLM (a fake answering one text to every prompt)
    ids = queued(team.project, TaskType.GENERATION, *MESSAGES)
    tokenizer = modeling.tokenizer_load(tiny_model)
    answer = [
        *tokenizer("Your card is on its way", add_special_tokens=False)["input_ids"],
        tokenizer.eos_token_id,
    ]
    calls = vllm_fake.install(monkeypatch, lambda prompt: (answer, [-0.5] * len(answer)))
    monkeypatch.setattr(engines, "vllm_missing", lambda adapter=None: None)

    # When a suggestion run is made (FINCH_GENERATION_ENGINE=auto)
    run = ran(team.project, tiny_model)

    # Then vLLM answered each input, and the run says so
    assert run.status == JobStatus.SUCCEEDED, run.error
    rows = Suggestion.objects.filter(run=run)
    assert {row.item_id for row in rows} == set(ids.values()) and len(calls.generates) == 1
    assert {(row.output, row.confidence) for row in rows} == {("Your card is on its way", -0.5)}
    assert (run.prompt_card["engine"], run.prompt_card["engine_reason"]) == (
        "vllm",
        "FINCH_GENERATION_ENGINE=auto",
    )
    assert settings.FINCH_GENERATION_ENGINE == "auto"


def test_vllm_asked_for_where_it_is_missing_fails_a_generation_run_not_a_classification_one(
    team: Team, tiny_model: str, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a worker without vLLM, asked to use it
    monkeypatch.setitem(sys.modules, "vllm", None)
    settings.FINCH_GENERATION_ENGINE = "vllm"

    # When a generation project asks for suggestions, the run fails saying why, keeping nothing
    queued(team.project, TaskType.GENERATION, *MESSAGES)
    failed = ran(team.project, tiny_model)
    assert failed.status == JobStatus.FAILED
    assert failed.error.startswith("FINCH_GENERATION_ENGINE=vllm, but vLLM is not installed on this host")
    assert not Suggestion.objects.filter(run=failed).exists()

    # But a classification project's labels are scored on transformers whatever the setting
    team.project.task_type = TaskType.CLASSIFICATION
    team.project.save()
    run = ran(team.project, tiny_model)
    assert run.status == JobStatus.SUCCEEDED, run.error
    assert (run.prompt_card["engine"], run.prompt_card["engine_reason"]) == (
        "transformers",
        "classification: label scores run on transformers",
    )
