"""Registered base models, LoRA training runs on frozen dataset versions, and the metrics runs
log while they run."""

from __future__ import annotations

from typing import Any

from django.core.validators import RegexValidator
from django.db import models

from curation.models import DatasetVersion, Job, JobStatus
from training.learning import Learning, learning_verdict

# A registered model's name: a slug (never a "/", so it cannot be taken for a path or a hub id).
NAME_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,99}$"


class BaseModelSource(models.TextChoices):
    FOLDER = "folder", "A model folder"
    GGUF = "gguf", "A GGUF file, converted"


class BaseModel(models.Model):
    """A base model on the workers' hosts, registered there by an operator
    (`manage.py import_base_model`): where it is, what its files hash to, what it is, and the
    settings it trains well with. Runs refer to it; a worker refuses to load it once its files
    differ from this record (training.registry.verify_for_load)."""

    name = models.CharField(max_length=100, unique=True, validators=[RegexValidator(NAME_PATTERN)])
    path = models.CharField(max_length=500, unique=True, help_text="The model folder on the workers.")
    # training.model_files says how both hashes are made.
    weights_sha256 = models.CharField(max_length=64)
    files = models.JSONField(default=list, help_text='[{"name", "size", "mtime_ns", "sha256"}]')
    config_sha256 = models.CharField(max_length=64)
    parameter_count = models.BigIntegerField(null=True, blank=True, help_text="From safetensors headers.")
    context_length = models.PositiveIntegerField(null=True, blank=True)
    has_chat_template = models.BooleanField(default=False)
    license = models.CharField(max_length=100, blank=True)
    source_kind = models.CharField(
        max_length=10, choices=BaseModelSource.choices, default=BaseModelSource.FOLDER
    )
    source_file = models.CharField(max_length=255, blank=True, help_text="The GGUF file's name.")
    source_sha256 = models.CharField(max_length=64, blank=True)
    recommended = models.JSONField(default=dict, blank=True, help_text='{"hyperparameters": {}, "lora": {}}')
    registered_by = models.CharField(max_length=255, blank=True, help_text="The operator, user@host.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(source_kind__in=BaseModelSource.values), name="base_model_source_valid"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def recommended_rows(self) -> list[tuple[str, list[tuple[str, Any]]]]:
        from training.base_models import recommended_rows

        return recommended_rows(self.recommended)

    @property
    def parameters_label(self) -> str:
        """The parameter count as people say it: 37.0K, 134.5M, 7.2B ("" when unknown)."""
        count = self.parameter_count
        if not count:
            return ""
        for size, unit in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
            if count >= size:
                return f"{count / size:.1f}{unit}"
        return str(count)


class TrainingRun(Job):
    """A LoRA fine-tune of `base_model` on one frozen version, with all it takes to reproduce it."""

    version = models.ForeignKey(DatasetVersion, on_delete=models.PROTECT, related_name="training_runs")
    base_model = models.CharField(max_length=500, help_text="A local path (or an id in the offline cache).")
    # PROTECT: the record is the run's evidence of what it trained on (hashes, license), so it
    # outlives the run's every reader; nothing in Finch deletes one.
    registered_model = models.ForeignKey(
        BaseModel, null=True, blank=True, on_delete=models.PROTECT, related_name="training_runs"
    )
    name = models.CharField(max_length=200, blank=True)
    # The settings as resolved at launch: every default filled in, so the record alone reproduces it.
    lora = models.JSONField(default=dict)
    hyperparameters = models.JSONField(default=dict)
    # Reproducibility: filled in when the worker starts (the host's packages, the model's config).
    version_sha256 = models.CharField(max_length=64)
    base_model_config_sha256 = models.CharField(max_length=64, blank=True)
    base_model_sha256 = models.CharField(
        max_length=64, blank=True, help_text="Of the weights the worker loaded (training.model_files)."
    )
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
