"""The LoRA training loop: plain torch over a peft model, no Django.

Why not transformers' Trainer: the run needs its own hooks at every step (cancel, heartbeat,
metrics into the database, checkpoints on shared storage) and a resume that restores exactly
where it was; a short loop says all of that plainly.

- Batches: each epoch shuffles the examples from (seed, epoch), groups similar lengths (less
  padding) and shuffles the batches; the same seed gives the same batches, so a resumed run skips
  the batches it did and continues with the very next one.
- Loss: summed over supervised tokens and divided by the supervised tokens of the whole optimizer
  step, so gradient accumulation weighs every token alike.
- Eval loss before the first step and every `eval_steps`: the best adapter is kept (the untouched
  one at step 0, so a run that never beats the base model keeps a no-op adapter, which the service
  refuses); training stops early after `early_stopping_patience` evaluations without an
  improvement of more than `early_stopping_min_delta`.
- Checkpoints every `checkpoint_steps`: the adapter, optimizer, scheduler, counters and random
  states.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Iterator
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import torch

from training.prompts import IGNORE, Encoded

STATE_FILE = "state.pt"
ADAPTER_FOLDER = "adapter"
GROUP_BATCHES = 50  # batches per length-sorted group: enough to cut padding, still shuffled


@dataclass(frozen=True)
class Plan:
    epochs: int
    batch_size: int
    gradient_accumulation_steps: int
    learning_rate: float
    warmup_ratio: float
    weight_decay: float
    max_grad_norm: float
    eval_steps: int
    early_stopping_patience: int
    early_stopping_min_delta: float
    checkpoint_steps: int
    logging_steps: int
    seed: int

    @classmethod
    def of(cls, hyperparameters: dict[str, Any]) -> Plan:
        return cls(**{name: hyperparameters[name] for name in cls.__dataclass_fields__})

    def steps_per_epoch(self, examples: int) -> int:
        return max(1, math.ceil(math.ceil(examples / self.batch_size) / self.gradient_accumulation_steps))


@dataclass(frozen=True)
class Point:
    step: int
    epoch: float
    train_loss: float | None = None
    eval_loss: float | None = None
    learning_rate: float | None = None
    tokens_per_s: float | None = None


class Reporter(Protocol):
    """What the loop tells its caller and asks of it."""

    def started(self, total_steps: int, resumed_from: int | None) -> None: ...
    def point(self, point: Point) -> None: ...
    def step_done(self, step: int) -> None: ...
    def cancel_requested(self) -> bool: ...
    def checkpoint_saved(self, folder: Path, step: int) -> None: ...
    def best_saved(self, folder: Path, step: int, eval_loss: float) -> None: ...


class Cancelled(Exception):
    """The run was cancelled; raised between steps."""


@dataclass
class Outcome:
    steps: int
    stopped_early: bool
    best_step: int | None
    best_eval_loss: float | None
    initial_eval_loss: float | None


@dataclass
class _Progress:
    step: int = 0
    best_eval_loss: float | None = None
    best_step: int | None = None
    initial_eval_loss: float | None = None
    evals_without_improvement: int = 0


def epoch_batches(lengths: list[int], batch_size: int, seed: int, epoch: int) -> list[list[int]]:
    """The epoch's batches of example indexes: shuffled, length-grouped, in shuffled order."""
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


def collate(examples: list[Encoded], pad_id: int, device: torch.device) -> dict[str, torch.Tensor]:
    """Right-padded tensors; padding is masked out of attention and loss."""
    width = max(len(example.input_ids) for example in examples)
    ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    labels = torch.full((len(examples), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(examples), width), dtype=torch.long)
    for row, example in enumerate(examples):
        size = len(example.input_ids)
        ids[row, :size] = torch.tensor(example.input_ids)
        labels[row, :size] = torch.tensor(example.labels)
        mask[row, :size] = 1
    return {"input_ids": ids.to(device), "labels": labels.to(device), "attention_mask": mask.to(device)}


def summed_loss(model: Any, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Cross-entropy summed over the batch's supervised tokens (next-token prediction).

    The output layer runs only at supervised positions: a short answer after a long prompt then
    skips most of the vocabulary projection (the largest matrix of a small model) and the memory
    of its logits and their gradients."""
    targets = batch["labels"][:, 1:]
    parts = _decoder_and_head(model)
    if parts is None:  # a model whose forward does more to the logits than its output layer
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        shifted = logits[:, :-1, :].float()
        return torch.nn.functional.cross_entropy(
            shifted.reshape(-1, shifted.size(-1)), targets.reshape(-1), ignore_index=IGNORE, reduction="sum"
        )
    decoder, head = parts
    hidden = decoder(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
    supervised = targets != IGNORE
    logits = head(hidden[:, :-1, :][supervised]).float()
    return torch.nn.functional.cross_entropy(logits, targets[supervised], reduction="sum")


def _decoder_and_head(model: Any) -> tuple[Any, Any] | None:
    """The transformer body and the output layer of a causal LM (through a peft wrapper), when
    its logits are the output layer's alone (no soft-capping or scaling after it)."""
    causal = model.get_base_model() if hasattr(model, "get_base_model") else model
    config = getattr(causal, "config", None)
    if any(getattr(config, name, None) for name in ("final_logit_softcapping", "logit_scale")):
        return None
    try:
        decoder, head = causal.get_decoder(), causal.get_output_embeddings()
    except (AttributeError, NotImplementedError):
        return None
    if decoder is None or head is None or decoder is causal:
        return None
    return decoder, head


class LoraLoop:
    def __init__(
        self,
        model: Any,
        train: list[Encoded],
        evaluation: list[Encoded],
        plan: Plan,
        reporter: Reporter,
        *,
        pad_id: int,
        device: torch.device,
        autocast_dtype: torch.dtype | None = None,
    ) -> None:
        self.model = model
        self.train = train
        self.evaluation = evaluation
        self.plan = plan
        self.reporter = reporter
        self.pad_id = pad_id
        self.device = device
        self.autocast_dtype = autocast_dtype
        self.steps_per_epoch = plan.steps_per_epoch(len(train))
        self.total_steps = self.steps_per_epoch * plan.epochs
        trainable = [parameter for parameter in model.parameters() if parameter.requires_grad]
        self.optimizer = torch.optim.AdamW(
            trainable,
            lr=plan.learning_rate,
            weight_decay=plan.weight_decay,
            fused=device.type == "cuda",  # one kernel for every parameter's update
        )
        from transformers import get_cosine_schedule_with_warmup

        self.scheduler = get_cosine_schedule_with_warmup(
            self.optimizer, math.ceil(self.total_steps * plan.warmup_ratio), self.total_steps
        )
        self.progress = _Progress()

    # -- the run ---------------------------------------------------------------------------------

    def run(self, work_dir: Path, resume_from: Path | None = None) -> Outcome:
        torch.manual_seed(self.plan.seed)
        if resume_from is not None:
            self._restore(resume_from)
        self.reporter.started(self.total_steps, self.progress.step if resume_from else None)
        if self.progress.initial_eval_loss is None and self.evaluation:
            self._evaluate(work_dir)
        stopped_early = False
        window = _Window()
        for step, micro_batches in self._remaining_steps():
            if self.reporter.cancel_requested():
                raise Cancelled
            window.add(*self.train_step(micro_batches))
            self.progress.step = step
            self.reporter.step_done(step)
            if step % self.plan.logging_steps == 0 or step == self.total_steps:
                self.reporter.point(window.point(step, self._epoch(step), self.scheduler.get_last_lr()[0]))
            if self.evaluation and (step % self.plan.eval_steps == 0 or step == self.total_steps):
                stopped_early = self._evaluate(work_dir) and step < self.total_steps
            if step % self.plan.checkpoint_steps == 0 and step < self.total_steps and not stopped_early:
                self._checkpoint(work_dir / f"checkpoint-{step}")
            if stopped_early:
                break
        return Outcome(
            steps=self.progress.step,
            stopped_early=stopped_early,
            best_step=self.progress.best_step,
            best_eval_loss=self.progress.best_eval_loss,
            initial_eval_loss=self.progress.initial_eval_loss,
        )

    def _remaining_steps(self) -> Iterator[tuple[int, list[list[int]]]]:
        lengths = [len(example.input_ids) for example in self.train]
        accumulation = self.plan.gradient_accumulation_steps
        for epoch in range(self.plan.epochs):
            batches = epoch_batches(lengths, self.plan.batch_size, self.plan.seed, epoch)
            for index in range(self.steps_per_epoch):
                step = epoch * self.steps_per_epoch + index + 1
                if step > self.progress.step:  # done before a resume
                    yield step, batches[index * accumulation : (index + 1) * accumulation]

    def train_step(self, micro_batches: list[list[int]]) -> tuple[float, int, int, float]:
        """One optimizer step over the micro-batches (lists of train example indexes); returns
        (summed loss, supervised tokens, tokens, seconds). The benchmark times these."""
        started = time.perf_counter()
        self.model.train()
        examples = [[self.train[index] for index in batch] for batch in micro_batches]
        supervised = sum(example.supervised for batch in examples for example in batch)
        tokens = sum(len(example.input_ids) for batch in examples for example in batch)
        total_loss = 0.0
        for batch in examples:
            with self._autocast():
                loss = summed_loss(self.model, collate(batch, self.pad_id, self.device))
            (loss / supervised).backward()
            total_loss += float(loss.detach())
        if self.plan.max_grad_norm > 0:
            torch.nn.utils.clip_grad_norm_(
                [p for p in self.model.parameters() if p.requires_grad], self.plan.max_grad_norm
            )
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        return total_loss, supervised, tokens, time.perf_counter() - started

    def _autocast(self) -> Any:
        if self.autocast_dtype is None:
            return nullcontext()
        return torch.autocast(self.device.type, dtype=self.autocast_dtype)

    def _epoch(self, step: int) -> float:
        return step / self.steps_per_epoch

    # -- evaluation and the best adapter ---------------------------------------------------------

    def eval_loss(self) -> float:
        """Mean loss per supervised token over the eval split."""
        self.model.eval()
        order = sorted(range(len(self.evaluation)), key=lambda index: len(self.evaluation[index].input_ids))
        size = self.plan.batch_size * 2  # no gradients to keep: twice the batch fits
        loss = 0.0
        tokens = 0
        with torch.no_grad():
            for start in range(0, len(order), size):
                batch = [self.evaluation[index] for index in order[start : start + size]]
                with self._autocast():
                    loss += float(summed_loss(self.model, collate(batch, self.pad_id, self.device)))
                tokens += sum(example.supervised for example in batch)
        return loss / max(tokens, 1)

    def _evaluate(self, work_dir: Path) -> bool:
        """Record the eval loss; keep the adapter if it is the best so far. True: stop early."""
        loss = self.eval_loss()
        progress = self.progress
        step = progress.step
        self.reporter.point(Point(step=step, epoch=self._epoch(step), eval_loss=loss))
        if progress.initial_eval_loss is None:
            progress.initial_eval_loss = loss
        if (
            progress.best_eval_loss is None
            or loss < progress.best_eval_loss - self.plan.early_stopping_min_delta
        ):
            progress.best_eval_loss, progress.best_step = loss, step
            progress.evals_without_improvement = 0
            folder = work_dir / "best"
            self.model.save_pretrained(str(folder))
            self.reporter.best_saved(folder, step, loss)
            return False
        progress.evals_without_improvement += 1
        patience = self.plan.early_stopping_patience
        return patience > 0 and progress.evals_without_improvement >= patience

    # -- checkpoints -----------------------------------------------------------------------------

    def _checkpoint(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.model.save_pretrained(str(folder / ADAPTER_FOLDER))
        state = {
            "progress": vars(self.progress),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        }
        torch.save(state, folder / STATE_FILE)
        self.reporter.checkpoint_saved(folder, self.progress.step)

    def _restore(self, folder: Path) -> None:
        from peft import set_peft_model_state_dict
        from safetensors.torch import load_file

        weights = load_file(
            str(folder / ADAPTER_FOLDER / "adapter_model.safetensors"), device=str(self.device)
        )
        set_peft_model_state_dict(self.model, weights)
        state = torch.load(folder / STATE_FILE, map_location=self.device, weights_only=False)
        self.progress = _Progress(**state["progress"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["torch_rng"].cpu())
        if state["cuda_rng"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all([rng.cpu() for rng in state["cuda_rng"]])


class _Window:
    """Train loss and throughput since the last logged point."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.loss = 0.0
        self.supervised = 0
        self.tokens = 0
        self.seconds = 0.0

    def add(self, loss: float, supervised: int, tokens: int, seconds: float) -> None:
        self.loss += loss
        self.supervised += supervised
        self.tokens += tokens
        self.seconds += seconds

    def point(self, step: int, epoch: float, learning_rate: float) -> Point:
        point = Point(
            step=step,
            epoch=epoch,
            train_loss=self.loss / max(self.supervised, 1),
            learning_rate=learning_rate,
            tokens_per_s=self.tokens / self.seconds if self.seconds else None,
        )
        self.reset()
        return point
