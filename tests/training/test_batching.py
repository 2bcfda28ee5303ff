"""Batches by a token budget (length grouping): within the budget, every example once an epoch,
the same batches from the same seed; and the step counts the loop plans with."""

from __future__ import annotations

import random

import pytest

from training.batching import Batching, epoch_batches, token_budget_batches


def _lengths(count: int, seed: int = 0) -> list[int]:
    rng = random.Random(seed)
    return [rng.choice([rng.randint(4, 40), rng.randint(40, 300)]) for _ in range(count)]


def _padded(batch: list[int], lengths: list[int]) -> int:
    return len(batch) * max(lengths[index] for index in batch)


@pytest.mark.parametrize("budget", [300, 1024, 4096])
def test_no_batch_exceeds_the_budget_and_every_example_comes_once(budget: int) -> None:
    lengths = _lengths(2000)
    for epoch in range(3):
        batches = token_budget_batches(lengths, budget, seed=7, epoch=epoch)
        assert all(_padded(batch, lengths) <= budget for batch in batches)
        assert sorted(index for batch in batches for index in batch) == list(range(len(lengths)))


def test_batches_repeat_with_the_seed_and_change_with_the_epoch() -> None:
    lengths = _lengths(500)
    first = token_budget_batches(lengths, 2048, seed=3, epoch=0)
    assert first == token_budget_batches(lengths, 2048, seed=3, epoch=0)
    assert first != token_budget_batches(lengths, 2048, seed=3, epoch=1)
    assert first != token_budget_batches(lengths, 2048, seed=4, epoch=0)


def test_short_examples_travel_in_large_batches_with_little_padding() -> None:
    lengths = _lengths(2000)
    batches = token_budget_batches(lengths, 2048, seed=0, epoch=0)
    sizes = {len(batch): max(lengths[index] for index in batch) for batch in batches}
    assert max(sizes) > 5 * min(sizes)  # many short examples a batch, few long ones
    padded = sum(_padded(batch, lengths) for batch in batches)
    assert padded < 1.15 * sum(lengths)
    # Nearly full: a fixed batch size would leave most of the budget to padding or unused.
    assert padded / (len(batches) * 2048) > 0.8


def test_an_example_over_the_budget_is_refused() -> None:
    with pytest.raises(ValueError, match="example 1 has 50 tokens, over tokens_per_batch"):
        token_budget_batches([10, 50, 20], 40, seed=0, epoch=0)


def test_step_counts_follow_the_real_batches() -> None:
    lengths = _lengths(300)
    budget = Batching("token_budget", batch_size=8, tokens_per_batch=1024, accumulation=2, seed=1)
    steps = budget.steps(lengths, epochs=3)
    for epoch, count in enumerate(steps):
        assert count == -(-len(token_budget_batches(lengths, 1024, 1, epoch)) // 2)
    fixed = Batching("fixed", batch_size=8, tokens_per_batch=None, accumulation=2, seed=1)
    assert fixed.steps(lengths, epochs=2) == [19, 19]  # 38 batches of 8 (the last of 4), two a step
    assert len(epoch_batches(lengths, 8, 1, 0)) == 38


def test_eval_batches_cover_the_split_in_length_order() -> None:
    lengths = _lengths(100)
    budget = Batching("token_budget", batch_size=8, tokens_per_batch=600, accumulation=1, seed=0)
    fixed = Batching("fixed", batch_size=8, tokens_per_batch=None, accumulation=1, seed=0)
    for batches in (budget.eval_batches(lengths), fixed.eval_batches(lengths)):
        flat = [index for batch in batches for index in batch]
        assert sorted(flat) == list(range(100))
        assert [lengths[index] for index in flat] == sorted(lengths)
    # No gradients to keep: twice the training budget, twice the batch size.
    assert all(_padded(batch, lengths) <= 1200 for batch in budget.eval_batches(lengths))
    assert {len(batch) for batch in fixed.eval_batches(lengths)} == {16, 4}
