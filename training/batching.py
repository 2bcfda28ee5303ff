"""An epoch's batches of train example indexes, deterministic from (seed, epoch), so a resumed run
skips the batches it did and continues with the very next one (pure; no torch).

- fixed: `batch_size` examples a batch. The shuffled examples are cut into groups of
  GROUP_BATCHES batches, sorted by length within each group (less padding), and the batches
  are shuffled.
- token_budget (length grouping): as many examples as fit `tokens_per_batch` padded tokens (the
  batch's size times its longest example). The shuffled examples are cut into buckets of about
  GROUP_BATCHES budgets, sorted by length within each, packed greedily, and the batches shuffled:
  short examples travel in large batches, long ones in small, and no batch exceeds the budget.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

GROUP_BATCHES = 50  # batches per length-sorted group: enough to cut padding, still shuffled
EVAL_SCALE = 2  # no gradients to keep in evaluation: batches twice the size fit


@dataclass(frozen=True)
class Batching:
    """How a run cuts its examples into batches, and so how many optimizer steps an epoch makes."""

    kind: str  # "fixed" or "token_budget"
    batch_size: int
    tokens_per_batch: int | None
    accumulation: int
    seed: int

    @classmethod
    def of(cls, settings: dict[str, Any]) -> Batching:
        """From resolved hyperparameters (a run's, or a loop Plan's fields)."""
        return cls(
            kind=settings.get("batching", "fixed"),
            batch_size=settings["batch_size"],
            tokens_per_batch=settings.get("tokens_per_batch"),
            accumulation=settings["gradient_accumulation_steps"],
            seed=settings["seed"],
        )

    def batches(self, lengths: list[int], epoch: int) -> list[list[int]]:
        if self.kind == "token_budget":
            assert self.tokens_per_batch is not None  # resolved with the batching
            return token_budget_batches(lengths, self.tokens_per_batch, self.seed, epoch)
        return epoch_batches(lengths, self.batch_size, self.seed, epoch)

    def steps(self, lengths: list[int], epochs: int) -> list[int]:
        """Optimizer steps in each epoch."""
        if self.kind == "fixed":  # the same every epoch, from the count alone
            return [max(1, math.ceil(math.ceil(len(lengths) / self.batch_size) / self.accumulation))] * epochs
        return [
            max(1, math.ceil(len(self.batches(lengths, epoch)) / self.accumulation))
            for epoch in range(epochs)
        ]

    def eval_batches(self, lengths: list[int]) -> list[list[int]]:
        """Evaluation's batches: the examples in length order, EVAL_SCALE times a training batch."""
        order = sorted(range(len(lengths)), key=lambda index: lengths[index])
        if self.kind == "token_budget":
            assert self.tokens_per_batch is not None
            return list(_packed(order, lengths, self.tokens_per_batch * EVAL_SCALE))
        size = self.batch_size * EVAL_SCALE
        return [order[start : start + size] for start in range(0, len(order), size)]


def epoch_batches(lengths: list[int], batch_size: int, seed: int, epoch: int) -> list[list[int]]:
    """The epoch's batches of `batch_size` example indexes: shuffled, length-grouped, in shuffled order."""
    rng = random.Random(f"{seed}:{epoch}")
    order = list(range(len(lengths)))
    rng.shuffle(order)
    batches: list[list[int]] = []
    group = batch_size * GROUP_BATCHES
    for start in range(0, len(order), group):
        by_length = sorted(order[start : start + group], key=lambda index: lengths[index])
        batches.extend(by_length[i : i + batch_size] for i in range(0, len(by_length), batch_size))
    rng.shuffle(batches)
    return batches


def token_budget_batches(lengths: list[int], tokens_per_batch: int, seed: int, epoch: int) -> list[list[int]]:
    """The epoch's batches of example indexes whose padded size (count x longest) stays within
    `tokens_per_batch`; ValueError for an example longer than the budget (preflight leaves out
    examples over max_seq_length, and the budget is at least that)."""
    too_long = [index for index, length in enumerate(lengths) if length > tokens_per_batch]
    if too_long:
        raise ValueError(f"example {too_long[0]} has {lengths[too_long[0]]} tokens, over tokens_per_batch")
    rng = random.Random(f"{seed}:{epoch}")
    order = list(range(len(lengths)))
    rng.shuffle(order)
    batches: list[list[int]] = []
    for bucket in _buckets(order, lengths, tokens_per_batch * GROUP_BATCHES):
        batches.extend(_packed(sorted(bucket, key=lambda index: lengths[index]), lengths, tokens_per_batch))
    rng.shuffle(batches)
    return batches


def _buckets(order: list[int], lengths: list[int], tokens: int) -> Iterator[list[int]]:
    """Consecutive runs of `order` holding about `tokens` tokens each."""
    bucket: list[int] = []
    held = 0
    for index in order:
        bucket.append(index)
        held += lengths[index]
        if held >= tokens:
            yield bucket
            bucket, held = [], 0
    if bucket:
        yield bucket


def _packed(by_length: list[int], lengths: list[int], budget: int) -> Iterator[list[int]]:
    """Greedy packing of indexes sorted by length: the newest example is the batch's longest."""
    batch: list[int] = []
    for index in by_length:
        if batch and (len(batch) + 1) * lengths[index] > budget:
            yield batch
            batch = []
        batch.append(index)
    if batch:
        yield batch
