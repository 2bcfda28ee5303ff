"""A run's progress as it trains: metrics, step, heartbeat and checkpoints written to the
database and storage (the loop's Reporter), and the cancel request read back."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from django.utils import timezone

from curation.services.jobs import job_update
from training import artifacts
from training.models import TrainingMetric, TrainingRun

HEARTBEAT_EVERY_S = 5.0
CANCEL_CHECK_EVERY_S = 1.0


class DatabaseReporter:
    """The loop's reports, written to the run's row and its metrics as it goes."""

    def __init__(self, run: TrainingRun) -> None:
        self.run = run
        self._last_heartbeat = 0.0
        self._last_cancel_check = 0.0

    def started(self, total_steps: int, resumed_from: int | None) -> None:
        if resumed_from is not None:  # points after the checkpoint are logged again
            TrainingMetric.objects.filter(run=self.run, step__gt=resumed_from).delete()
        else:
            TrainingMetric.objects.filter(run=self.run).delete()
        # Where this attempt starts: an earlier attempt's later step would show until it caught up.
        step = resumed_from or 0
        job_update(
            self.run,
            total_steps=total_steps,
            step=step,
            progress=min(step / max(total_steps, 1), 1.0),
            heartbeat_at=timezone.now(),
        )

    def point(self, point: Any) -> None:
        TrainingMetric.objects.create(
            run=self.run,
            step=point.step,
            epoch=point.epoch,
            train_loss=point.train_loss,
            eval_loss=point.eval_loss,
            learning_rate=point.learning_rate,
            tokens_per_s=point.tokens_per_s,
        )
        if point.step == 0 and point.eval_loss is not None:  # the loss before training, on the run
            job_update(self.run, initial_eval_loss=point.eval_loss)  # at once: a cancelled run keeps it
        self._heartbeat(point.step, force=True)

    def step_done(self, step: int) -> None:
        self._heartbeat(step)

    def cancel_requested(self) -> bool:
        now = time.monotonic()
        if now - self._last_cancel_check < CANCEL_CHECK_EVERY_S:
            return False
        self._last_cancel_check = now
        return TrainingRun.objects.filter(pk=self.run.pk, cancel_requested=True).exists()

    def checkpoint_saved(self, folder: Path, step: int) -> None:
        artifacts.checkpoint_publish(self.run.pk, folder, step)

    def best_saved(self, folder: Path, step: int, eval_loss: float) -> None:
        prefix = f"{artifacts.run_prefix(self.run.pk)}/best"
        artifacts.folder_delete(prefix)
        artifacts.folder_upload(folder, prefix)
        job_update(self.run, best_step=step, best_eval_loss=eval_loss)

    def _heartbeat(self, step: int, *, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self._last_heartbeat >= HEARTBEAT_EVERY_S:
            self._last_heartbeat = now
            total = max(self.run.total_steps, 1)
            job_update(self.run, step=step, progress=min(step / total, 1.0), heartbeat_at=timezone.now())
