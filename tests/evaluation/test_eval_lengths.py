"""An eval item longer than the model takes (a 90,000-character example once made every run of a
version fail with the allocator's raw message): evaluation applies training's length rule, skips
and counts such an item, never loads it, batches by tokens, and says plainly why a run failed.
On the CPU with the tiny model, whose max_seq_length (1024) a few thousand random letters pass."""

from __future__ import annotations

import logging
import random
from typing import Any

import pytest
from django.test import Client

from curation.errors import InvalidInput
from curation.models import DatasetVersion, ExampleStatus, JobStatus, Split, VersionItem
from curation.services.versions import version_create
from evaluation import generate
from evaluation.models import EvalRun
from evaluation.services import comparison_create, eval_execute, eval_run_create
from tests.conftest import Team
from tests.factories import ExampleFactory
from tests.training.support import LABELS, labelled_examples

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_in_tmp")]

LONG_CHARS = 3_000  # random letters: well over 1024 tokens of the tiny byte-level BPE, under 1 MB
ALLOCATOR = "DefaultCPUAllocator: can't allocate memory: you tried to allocate 47708369408 bytes"


def long_text(seed: int) -> str:
    rng = random.Random(seed)
    return "".join(rng.choice("abcdefghijklmnopqrstuvwxyz ") for _ in range(LONG_CHARS))


def version_with_long_items(team: Team) -> tuple[DatasetVersion, set[int]]:
    """A frozen version whose eval split holds some items far longer than the tiny model takes."""
    project = team.project
    project.labels, project.system_prompt = LABELS, "Answer with the intent label only."
    project.save()
    labelled_examples(project, 24)
    long_ids = {
        ExampleFactory.create(
            project=project, input=long_text(seed), output=LABELS[0], status=ExampleStatus.APPROVED
        ).pk
        for seed in range(8)
    }
    version = version_create(project=project, user=team.lead, eval_fraction=0.5)
    assert version.is_frozen, version.error
    in_eval = set(
        VersionItem.objects.filter(version=version, split=Split.EVAL, example_id__in=long_ids).values_list(
            "example_id", flat=True
        )
    )
    assert in_eval, "the split put no long item in eval"
    return version, in_eval


def evaluated(version: DatasetVersion, model: str, **kwargs: Any) -> EvalRun:
    run = eval_run_create(version=version, user=None, base_model=model, queue=False, **kwargs)
    eval_execute(run.pk)
    run.refresh_from_db()
    return run


def test_long_eval_items_are_skipped_counted_and_never_loaded(
    team: Team, tiny_model: str, monkeypatch: pytest.MonkeyPatch, client_for: Any
) -> None:
    # Given a version with long items in its eval split, and a record of what the model is given
    version, long_in_eval = version_with_long_items(team)
    asked: list[str] = []
    real = getattr(generate, "_generate", None)

    def recording(model: Any, tokenizer: Any, prompts: list[str], new_tokens: int, *rest: Any) -> list[str]:
        asked.extend(prompts)
        assert real is not None
        return real(model, tokenizer, prompts, new_tokens, *rest)

    monkeypatch.setattr(generate, "_generate", recording, raising=False)

    # When the baseline is evaluated, with and without few-shot turns
    runs = [evaluated(version, tiny_model), evaluated(version, tiny_model, few_shot=2)]

    # Then each succeeds on the items that fit, the long ones skipped with their reason
    for run in runs:
        assert run.status == JobStatus.SUCCEEDED, run.error
        assert not set(run.predictions.values_list("example_id", flat=True)) & long_in_eval
        assert run.n_skipped == len(long_in_eval) and run.n == version.counts["eval"] - len(long_in_eval)
        assert {entry["example_id"] for entry in run.skipped} == long_in_eval
        assert all("longer than max_seq_length=1024" in entry["reason"] for entry in run.skipped)
        assert run.prompt_card["max_seq_length"] == 1024
    # never put to the model
    assert asked and not any(text[:200] in prompt for text in map(long_text, range(8)) for prompt in asked)
    # and the two runs still pair item by item
    comparison = comparison_create(baseline=runs[0], candidate=runs[1], user=None)
    assert comparison.n == runs[0].n

    # The API and the leaderboard say so
    body = client_for(team.lead).get(f"/api/eval-runs/{runs[0].pk}/").json()
    assert body["n_skipped"] == len(long_in_eval) and len(body["skipped"]) == len(long_in_eval)
    page = Client()
    page.force_login(team.lead)
    html = page.get(f"/versions/{version.pk}/evaluation/").content.decode()
    assert f"({len(long_in_eval)} skipped: longer than max_seq_length)" in html


def test_batches_are_bounded_by_tokens_not_by_a_count(
    tiny_model: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given prompts from a few words to several hundred tokens
    model, tokenizer = generate.load(tiny_model, None)
    rng = random.Random(0)
    conversations = [
        [
            {
                "role": "user",
                "content": " ".join(rng.choice(LABELS) for _ in range(rng.choice([2, 5, 40, 150]))),
            }
        ]
        for _ in range(24)
    ]
    shapes: list[tuple[int, int]] = []
    real_generate = model.generate

    def recording(**batch: Any) -> Any:
        shapes.append(tuple(batch["input_ids"].shape))
        return real_generate(**batch)

    monkeypatch.setattr(model, "generate", recording)

    # When they are answered within a budget of 600 tokens a batch
    budgeted = generate.answers(model, tokenizer, conversations, 8, batch_tokens=600)

    # Then every batch is within it (a prompt longer than the budget alone), every item answered
    # once, and in the caller's order: the same answers as in one big batch
    assert len(shapes) > 1 and sum(rows for rows, _ in shapes) == len(conversations)
    assert all(rows * (width + 8) <= 600 or rows == 1 for rows, width in shapes)
    shapes.clear()
    assert generate.answers(model, tokenizer, conversations, 8, batch_tokens=10**9) == budgeted
    assert len(shapes) == 1


def test_a_failed_evaluation_says_plainly_why_and_logs_the_raw_error(
    team: Team,
    tiny_model: str,
    frozen: Any,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Given a model that runs out of memory while answering
    version = frozen(team.project, team.lead, count=20)

    def out_of_memory(*args: Any, **kwargs: Any) -> list[str]:
        raise RuntimeError(ALLOCATOR)

    monkeypatch.setattr(generate, "scored_answers", out_of_memory)

    # When it is evaluated
    with caplog.at_level(logging.ERROR, logger="evaluation.services"):
        run = evaluated(version, tiny_model)

    # Then the run failed with a sentence that says what to change, not the allocator's text,
    # which is in the worker's log
    assert run.status == JobStatus.FAILED
    assert "ran out of memory" in run.error and "FINCH_EVAL_BATCH_TOKENS" in run.error
    assert "DefaultCPUAllocator" not in run.error
    assert ALLOCATOR in caplog.text
    page = Client()
    page.force_login(team.lead)
    html = page.get(f"/versions/{version.pk}/evaluation/").content.decode()
    assert "ran out of memory" in html and "DefaultCPUAllocator" not in html


def finished_run(version: DatasetVersion, right: dict[int, bool], skipped: list[int]) -> EvalRun:
    """A finished run that answered the items of `right` (example id -> right or not)."""
    run = EvalRun.objects.create(
        version=version,
        base_model="/models/base",
        status=JobStatus.SUCCEEDED,
        metrics={"accuracy": sum(right.values()) / len(right), "invalid_label": 0.0},
        n=len(right),
        n_skipped=len(skipped),
        skipped=[{"example_id": example_id, "reason": "too long"} for example_id in skipped],
    )
    for example_id, correct in right.items():
        run.predictions.create(
            example_id=example_id,
            input="q",
            reference="card_arrival",
            raw="",
            scores={"accuracy": float(correct), "invalid_label": 0.0},
        )
    return run


def test_a_comparison_pairs_only_the_items_both_runs_answered(team: Team, frozen: Any) -> None:
    # Given a baseline that skipped item 4 (a smaller max_seq_length), which the candidate answered
    version = frozen(team.project, team.lead, count=20)
    baseline = finished_run(version, {1: False, 2: True, 3: False}, skipped=[4])
    candidate = finished_run(version, {1: True, 2: True, 3: True, 4: False}, skipped=[])

    # When they are compared
    comparison = comparison_create(baseline=baseline, candidate=candidate, user=None)

    # Then the pair is items 1 to 3, and both scores are on those items
    assert comparison.n == 3
    assert (comparison.baseline_score, comparison.candidate_score) == pytest.approx((1 / 3, 1.0))

    # But runs that differ by an item neither skipped did not answer the same items
    other = finished_run(version, {1: True, 2: True, 5: True}, skipped=[])
    with pytest.raises(InvalidInput, match="did not answer the same eval items"):
        comparison_create(baseline=baseline, candidate=other, user=None)
