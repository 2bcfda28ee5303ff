"""LoRA training runs on frozen dataset versions, and the metrics they log while they run."""

from __future__ import annotations

from typing import Any

from django.db import models

from curation.models import DatasetVersion, Job, JobStatus
from training.learning import Learning, learning_verdict


class TrainingRun(Job):
    """A LoRA fine-tune of `base_model` on one frozen version, with all it takes to reproduce it."""

    version = models.ForeignKey(DatasetVersion, on_delete=models.PROTECT, related_name="training_runs")
    base_model = models.CharField(max_length=500, help_text="A local path (or an id in the offline cache).")
    name = models.CharField(max_length=200, blank=True)
    # The settings as resolved at launch: every default filled in, so the record alone reproduces it.
    lora = models.JSONField(default=dict)
    hyperparameters = models.JSONField(default=dict)
    # Reproducibility: filled in when the worker starts (the host's packages, the model's config).
    version_sha256 = models.CharField(max_length=64)
    base_model_config_sha256 = models.CharField(max_length=64, blank=True)
    environment = models.JSONField(default=dict, blank=True, help_text="Packages, git commit, device.")
    preflight = models.JSONField(default=dict, blank=True, help_text="What the checks before training found.")
    # Progress, written while it runs.
    host = models.CharField(max_length=255, blank=True)
    step = models.PositiveIntegerField(default=0)
    total_steps = models.PositiveIntegerField(default=0)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    cancel_requested = models.BooleanField(default=False)
    attempts = models.PositiveIntegerField(
        default=0, help_text="Starts, counting resumes after a lost worker."
    )
    resumed_from_step = models.PositiveIntegerField(null=True, blank=True)
    # Outcome.
    stopped_early = models.BooleanField(default=False)
    best_step = models.PositiveIntegerField(null=True, blank=True)
    best_eval_loss = models.FloatField(null=True, blank=True)
    initial_eval_loss = models.FloatField(null=True, blank=True, help_text="Before the first step.")
    adapter_path = models.CharField(max_length=500, blank=True, help_text="Storage folder of the adapter.")
    adapter_sha256 = models.CharField(max_length=64, blank=True)

    class Meta(Job.Meta):
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=JobStatus.values), name="training_run_status_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"training run {self.pk} on {self.version} ({self.status})"

    @property
    def scale(self) -> dict[str, Any]:
        """Memory and scale: the methods asked for, the processes used, the memory estimate."""
        from training.capacity import scale_record

        return scale_record(self.hyperparameters, self.environment, self.preflight)

    @property
    def learning(self) -> Learning | None:
        """Whether the finished run's adapter learned (training/learning.py); None before it ends."""
        if self.status != JobStatus.SUCCEEDED:
            return None
        return learning_verdict(initial_eval_loss=self.initial_eval_loss, best_eval_loss=self.best_eval_loss)


class TrainingMetric(models.Model):
    """One logged point of a run: a train loss every few steps, an eval loss every `eval_steps`."""

    run = models.ForeignKey(TrainingRun, on_delete=models.CASCADE, related_name="metrics")
    step = models.PositiveIntegerField()
    epoch = models.FloatField(default=0.0)
    train_loss = models.FloatField(null=True, blank=True)
    eval_loss = models.FloatField(null=True, blank=True)
    learning_rate = models.FloatField(null=True, blank=True)
    tokens_per_s = models.FloatField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["step", "id"]
        indexes = [models.Index(fields=["run", "step"], name="training_metric_run_step")]

    def __str__(self) -> str:
        return f"run {self.run_id} step {self.step}"
