"""The LoRA training loop: plain torch over a peft model, no Django.

Why not transformers' Trainer: the run needs its own hooks at every step (cancel, heartbeat,
metrics into the database, checkpoints on shared storage) and a resume that restores exactly
where it was; a short loop says all of that plainly.

- Batches (training/batching.py): each epoch shuffles the examples from (seed, epoch), groups
  similar lengths (less padding) into batches of `batch_size` examples or of `tokens_per_batch`
  padded tokens, and shuffles the batches; the same seed gives the same batches, so a resumed run
  skips the batches it did and continues with the very next one.
- Data parallel (training/parallel.py): under torchrun each process takes its share of every
  batch through DDP, and rank 0 alone reports and writes adapters and checkpoints.
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

import itertools
import math
import time
from collections.abc import Iterator
from contextlib import nullcontext
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

import torch

from training.batching import Batching, epoch_batches
from training.loss import SummedLoss, collate, summed_loss
from training.parallel import Parallel, single
from training.prompts import Encoded

__all__ = ["Cancelled", "LoraLoop", "Outcome", "Plan", "Point", "collate", "epoch_batches", "summed_loss"]

STATE_FILE = "state.pt"
ADAPTER_FOLDER = "adapter"


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
    batching: str = "fixed"
    tokens_per_batch: int | None = None

    @classmethod
    def of(cls, hyperparameters: dict[str, Any]) -> Plan:
        fields = cls.__dataclass_fields__
        return cls(**{name: hyperparameters[name] for name in fields if name in hyperparameters})

    @property
    def batcher(self) -> Batching:
        return Batching.of(asdict(self))

    def steps_per_epoch(self, examples: int) -> int:
        """Optimizer steps an epoch of fixed-size batches makes."""
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
    """The run was cancelled; raised between steps, or between an eval pass's batches."""


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
        parallel: Parallel | None = None,
    ) -> None:
        self.model = model
        self.train = train
        self.evaluation = evaluation
        self.plan = plan
        self.reporter = reporter
        self.pad_id = pad_id
        self.device = device
        self.autocast_dtype = autocast_dtype
        self.parallel = parallel or single(device)
        self.lengths = [len(example.input_ids) for example in train]
        self.epoch_steps = plan.batcher.steps(self.lengths, plan.epochs)
        self.steps_per_epoch = self.epoch_steps[0]
        self.total_steps = sum(self.epoch_steps)
        self.forward = self.parallel.wrap(SummedLoss(model))
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
        accumulation = self.plan.gradient_accumulation_steps
        done = 0  # steps of the epochs before
        for epoch, steps in enumerate(self.epoch_steps):
            if done + steps > self.progress.step:  # an epoch a resume has finished is skipped whole
                batches = self.plan.batcher.batches(self.lengths, epoch)
                for index in range(steps):
                    step = done + index + 1
                    if step > self.progress.step:  # done before a resume
                        yield step, batches[index * accumulation : (index + 1) * accumulation]
            done += steps

    def train_step(self, micro_batches: list[list[int]]) -> tuple[float, int, int, float]:
        """One optimizer step over the micro-batches (lists of train example indexes); returns
        (summed loss, supervised tokens, tokens, seconds), over every rank. The benchmark times these."""
        started = time.perf_counter()
        self.model.train()
        examples = [[self.train[index] for index in batch] for batch in micro_batches]
        supervised = sum(example.supervised for batch in examples for example in batch)
        tokens = sum(len(example.input_ids) for batch in examples for example in batch)
        total_loss = 0.0
        for number, batch in enumerate(micro_batches):
            mine, weight = self.parallel.share(batch)
            # DDP averages gradients at the last micro-batch's backward alone
            syncing = number == len(micro_batches) - 1 or not hasattr(self.forward, "no_sync")
            with nullcontext() if syncing else self.forward.no_sync(), self._autocast():
                loss = self.forward(
                    **collate([self.train[index] for index in mine], self.pad_id, self.device)
                )
                (loss * (weight * self.parallel.world / supervised)).backward()
            total_loss += weight * float(loss.detach())
        if self.plan.max_grad_norm > 0:
            torch.nn.utils.clip_grad_norm_(
                [p for p in self.model.parameters() if p.requires_grad], self.plan.max_grad_norm
            )
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        (total_loss,) = self.parallel.sum([total_loss])
        return total_loss, supervised, tokens, time.perf_counter() - started

    def _autocast(self) -> Any:
        if self.autocast_dtype is None:
            return nullcontext()
        return torch.autocast(self.device.type, dtype=self.autocast_dtype)

    def _epoch(self, step: int) -> float:
        """Epochs done at `step`, with the fraction of the current one."""
        for epoch, (before, steps) in enumerate(zip(self._epoch_starts(), self.epoch_steps, strict=True)):
            if step <= before + steps:
                return epoch + (step - before) / steps
        return float(len(self.epoch_steps))

    def _epoch_starts(self) -> list[int]:
        return [0, *itertools.accumulate(self.epoch_steps)][:-1]

    # -- evaluation and the best adapter ---------------------------------------------------------

    def eval_loss(self) -> float:
        """Mean loss per supervised token over the eval split (each rank takes its share of the
        batches; the sums are added over the ranks)."""
        self.model.eval()
        lengths = [len(example.input_ids) for example in self.evaluation]
        loss = 0.0
        tokens = 0
        with torch.no_grad():
            for indexes in self.parallel.mine(self.plan.batcher.eval_batches(lengths)):
                batch = [self.evaluation[index] for index in indexes]
                with self._autocast():
                    loss += float(summed_loss(self.model, collate(batch, self.pad_id, self.device)))
                tokens += sum(example.supervised for example in batch)
                self._eval_batch_done()
        loss, total = self.parallel.sum([loss, float(tokens)])
        return loss / max(total, 1)

    def _eval_batch_done(self) -> None:
        """A long eval pass (minutes on a big split) still beats, and a cancel stops it within a
        batch rather than after the pass."""
        self.reporter.step_done(self.progress.step)
        if self.reporter.cancel_requested():
            raise Cancelled

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
            if self.parallel.is_main:
                folder = work_dir / "best"
                self.model.save_pretrained(str(folder))
                self.reporter.best_saved(folder, step, loss)
            return False
        progress.evals_without_improvement += 1
        patience = self.plan.early_stopping_patience
        return patience > 0 and progress.evals_without_improvement >= patience

    # -- checkpoints -----------------------------------------------------------------------------

    def _checkpoint(self, folder: Path) -> None:
        """Rank 0 writes the adapter and state; every other rank its random state beside them."""
        folder.mkdir(parents=True, exist_ok=True)
        if not self.parallel.is_main:
            torch.save(_rng_state(), folder / f"rng-{self.parallel.rank}.pt")
        self.parallel.barrier()
        if not self.parallel.is_main:
            return
        self.model.save_pretrained(str(folder / ADAPTER_FOLDER))
        state = {
            "progress": vars(self.progress),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            **_rng_state(),
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
        own = folder / f"rng-{self.parallel.rank}.pt"
        rng = torch.load(own, weights_only=False) if own.exists() else state
        torch.set_rng_state(rng["torch_rng"].cpu())
        if rng["cuda_rng"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all([generator.cpu() for generator in rng["cuda_rng"]])


def _rng_state() -> dict[str, Any]:
    return {
        "torch_rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


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
