"""The training loop alone (no database): batches, padding, loss masking, early stopping."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from training import modeling
from training.batching import Batching
from training.hyperparameters import hyperparameters_resolve, lora_resolve, step_defaults
from training.loop import Cancelled, LoraLoop, Plan, Point, collate, epoch_batches, summed_loss
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

    def points_of(self, name: str) -> list[tuple[int, float]]:
        return [(p.step, getattr(p, name)) for p in self.points if getattr(p, name) is not None]


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


def _loop_run(tiny_model: str, tmp_path: Path, **settings: Any) -> tuple[Any, LoraLoop, Recorder]:
    """A short run of the loop on yes/no questions, the model made as a run makes it."""
    tokenizer = modeling.tokenizer_load(tiny_model)
    questions = [f"Is item {index} in stock?" for index in range(40)]
    train = [encode(tokenizer, _conversation(q, "yes" if i % 3 else "no")) for i, q in enumerate(questions)]
    evaluation = train[:8]
    hyperparameters = hyperparameters_resolve(
        {"epochs": 2, "learning_rate": 1e-2, "eval_steps": 2, "early_stopping_patience": 0, **settings},
        train_count=len(train),
    )
    if hyperparameters["logging_steps"] is None:  # token_budget: as the worker fills them in
        lengths = [len(example.input_ids) for example in train]
        steps = Batching.of(hyperparameters).steps(lengths, hyperparameters["epochs"])
        step_defaults(hyperparameters, steps[0], sum(steps))
    cpu = torch.device("cpu")
    model = modeling.model_for_training(tiny_model, cpu, lora_resolve(None), hyperparameters)
    recorder = Recorder()
    loop = LoraLoop(
        model,
        train,
        evaluation,
        Plan.of(hyperparameters),
        recorder,
        pad_id=tokenizer.pad_token_id,
        device=cpu,
    )
    return loop.run(tmp_path), loop, recorder


def test_gradient_checkpointing_trains_to_the_same_losses(tiny_model: str, tmp_path: Path) -> None:
    _, plain_loop, plain = _loop_run(tiny_model, tmp_path / "plain")
    outcome, loop, checkpointed = _loop_run(
        tiny_model, tmp_path / "checkpointed", gradient_checkpointing=True
    )

    assert loop.model.get_base_model().is_activation_checkpointing  # really on
    assert not plain_loop.model.get_base_model().is_activation_checkpointing
    train = checkpointed.points_of("train_loss")
    assert len(train) == loop.total_steps == 10
    # Recomputing the activations gives the same gradients (dropout masks replayed): same losses.
    assert train == [(step, pytest.approx(loss, rel=1e-4)) for step, loss in plain.points_of("train_loss")]
    assert [loss for _, loss in checkpointed.points_of("eval_loss")] == pytest.approx(
        [loss for _, loss in plain.points_of("eval_loss")], rel=1e-4
    )
    assert outcome.best_eval_loss < outcome.initial_eval_loss  # and it learned


def test_token_budget_batches_train_every_example_within_the_budget(tiny_model: str, tmp_path: Path) -> None:
    outcome, loop, recorder = _loop_run(
        tiny_model, tmp_path, batching="token_budget", tokens_per_batch=160, max_seq_length=32
    )
    lengths = loop.lengths
    for epoch in range(2):
        batches = loop.plan.batcher.batches(lengths, epoch)
        assert all(len(batch) * max(lengths[i] for i in batch) <= 160 for batch in batches)
    assert loop.total_steps == sum(loop.epoch_steps) == recorder.total_steps
    assert outcome.steps == loop.total_steps and outcome.best_eval_loss < outcome.initial_eval_loss


def test_a_cancel_during_an_eval_pass_stops_it_within_a_batch_and_it_keeps_beating(
    tiny_model: str, tmp_path: Path
) -> None:
    # Given a loop whose eval split takes several batches, and a cancel that arrives mid-pass
    tokenizer = modeling.tokenizer_load(tiny_model)
    questions = [f"Is item {index} in stock?" for index in range(24)]
    train = [encode(tokenizer, _conversation(q, "yes")) for q in questions]
    hyperparameters = hyperparameters_resolve({"epochs": 1, "batch_size": 4}, train_count=len(train))

    class CancelledMidPass(Recorder):
        looks = 0
        beats = 0

        def step_done(self, step: int) -> None:
            self.beats += 1

        def cancel_requested(self) -> bool:
            self.looks += 1
            return self.looks == 2  # the second batch of the first eval pass

    recorder = CancelledMidPass()
    model = modeling.lora_attach(modeling.base_load(tiny_model, torch.device("cpu")), lora_resolve(None))
    loop = LoraLoop(
        model,
        train,
        train,
        Plan.of(hyperparameters),
        recorder,
        pad_id=tokenizer.pad_token_id,
        device=torch.device("cpu"),
    )

    # When it runs: then it stops at that batch, before the pass ends and before any step
    with pytest.raises(Cancelled):
        loop.run(tmp_path)
    assert (recorder.looks, recorder.beats, recorder.points) == (2, 2, [])
