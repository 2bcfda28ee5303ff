"""The training loop alone (no database): batches, padding, loss masking, early stopping."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from training import modeling
from training.hyperparameters import hyperparameters_resolve, lora_resolve
from training.loop import LoraLoop, Plan, Point, collate, epoch_batches, summed_loss
from training.prompts import IGNORE, Encoded, encode


class Recorder:
    """A reporter that keeps what the loop tells it."""

    def __init__(self) -> None:
        self.points: list[Point] = []
        self.checkpoints: list[int] = []
        self.best: list[tuple[int, float]] = []

    def started(self, total_steps: int, resumed_from: int | None) -> None:
        self.total_steps = total_steps

    def point(self, point: Point) -> None:
        self.points.append(point)

    def step_done(self, step: int) -> None:
        pass

    def cancel_requested(self) -> bool:
        return False

    def checkpoint_saved(self, folder: Path, step: int) -> None:
        self.checkpoints.append(step)

    def best_saved(self, folder: Path, step: int, eval_loss: float) -> None:
        self.best.append((step, eval_loss))


def test_epoch_batches_cover_every_example_once_and_repeat_with_the_seed() -> None:
    lengths = [(index * 37) % 50 + 1 for index in range(205)]
    batches = epoch_batches(lengths, batch_size=8, seed=3, epoch=1)
    assert sorted(index for batch in batches for index in batch) == list(range(205))
    assert batches == epoch_batches(lengths, batch_size=8, seed=3, epoch=1)
    assert batches != epoch_batches(lengths, batch_size=8, seed=3, epoch=2)
    # Grouped by length: far less padding than batches in random order.
    padded = sum(len(batch) * max(lengths[i] for i in batch) for batch in batches)
    assert padded < 1.2 * sum(lengths)


def test_collate_masks_padding_out_of_attention_and_loss() -> None:
    examples = [Encoded([1, 5, 6, 2], [IGNORE, IGNORE, 6, 2]), Encoded([1, 7], [IGNORE, 7])]
    batch = collate(examples, pad_id=0, device=torch.device("cpu"))
    assert batch["input_ids"].tolist() == [[1, 5, 6, 2], [1, 7, 0, 0]]
    assert batch["labels"].tolist() == [[IGNORE, IGNORE, 6, 2], [IGNORE, 7, IGNORE, IGNORE]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1, 1], [1, 1, 0, 0]]


def test_summed_loss_counts_only_supervised_tokens(tiny_model: str) -> None:
    model = modeling.base_load(tiny_model, torch.device("cpu"))
    example = Encoded([1, 5, 6, 2], [IGNORE, IGNORE, 6, 2])
    unsupervised = Encoded([1, 5, 6, 2], [IGNORE, IGNORE, IGNORE, IGNORE])
    device = torch.device("cpu")
    with torch.no_grad():
        loss = summed_loss(model, collate([example], 0, device))
        logits = model(input_ids=torch.tensor([[1, 5, 6, 2]])).logits[0]
        by_hand = -(torch.log_softmax(logits[1], -1)[6] + torch.log_softmax(logits[2], -1)[2])
        assert float(loss) == pytest.approx(float(by_hand), rel=1e-5)
        assert float(summed_loss(model, collate([unsupervised], 0, device))) == 0.0


def _conversation(question: str, answer: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]


def test_early_stopping_on_a_rising_eval_loss(tiny_model: str, tmp_path: Path) -> None:
    # Train teaches "yes" for every question; eval expects "no" to the same questions, so every
    # step of learning raises the eval loss.
    tokenizer = modeling.tokenizer_load(tiny_model)
    questions = [f"Is item {index} in stock?" for index in range(32)]
    train = [encode(tokenizer, _conversation(q, "yes")) for q in questions]
    evaluation = [encode(tokenizer, _conversation(q, "no")) for q in questions[:8]]
    model = modeling.lora_attach(modeling.base_load(tiny_model, torch.device("cpu")), lora_resolve(None))
    settings: dict[str, Any] = {
        "epochs": 20,
        "learning_rate": 1e-2,
        "eval_steps": 1,
        "early_stopping_patience": 3,
    }
    plan = Plan.of(hyperparameters_resolve(settings, train_count=len(train)))
    recorder = Recorder()
    loop = LoraLoop(
        model, train, evaluation, plan, recorder, pad_id=tokenizer.pad_token_id, device=torch.device("cpu")
    )

    outcome = loop.run(tmp_path)

    evals = [(p.step, p.eval_loss) for p in recorder.points if p.eval_loss is not None]
    best_step, best_loss = min(evals, key=lambda point: point[1])
    assert outcome.stopped_early and outcome.steps < loop.total_steps
    assert evals[-1][1] > best_loss  # learning "yes" made "no" less likely: the eval loss rose
    assert [step for step, _ in evals[-3:]] == [outcome.steps - 2, outcome.steps - 1, outcome.steps]
    assert all(loss >= best_loss for _, loss in evals[-3:])  # patience 3: three without improvement
    assert (outcome.best_step, outcome.best_eval_loss) == (best_step, best_loss) == recorder.best[-1]
    assert outcome.initial_eval_loss == evals[0][1]
