"""Evaluation runs on a version's held-out split, their predictions, and paired comparisons."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from curation.models import DatasetVersion, Job, JobStatus, Project
from training.models import BaseModel, TrainingRun


class EvalRun(Job):
    """The base model (prompting alone: the baseline) or base + a run's adapter, answering every
    eval item of a frozen version, scored by the project's task type."""

    version = models.ForeignKey(DatasetVersion, on_delete=models.PROTECT, related_name="eval_runs")
    training_run = models.ForeignKey(
        TrainingRun, null=True, blank=True, on_delete=models.PROTECT, related_name="eval_runs"
    )
    base_model = models.CharField(max_length=500)
    # As on training runs: PROTECT keeps the record a run was checked against.
    registered_model = models.ForeignKey(
        BaseModel, null=True, blank=True, on_delete=models.PROTECT, related_name="eval_runs"
    )
    base_model_sha256 = models.CharField(max_length=64, blank=True, help_text="Of the weights loaded.")
    few_shot = models.PositiveIntegerField(default=0)
    name = models.CharField(max_length=200, blank=True)
    # How every item was put to the model and read back: the same for baseline and tuned runs.
    prompt_card = models.JSONField(default=dict, blank=True)
    metrics = models.JSONField(default=dict, blank=True, help_text="metric -> value over the eval split")
    primary_metric = models.CharField(max_length=50, blank=True)
    n = models.PositiveIntegerField(default=0, help_text="Eval items answered.")
    # Items left out by training's length rule (never put to the model), each with its reason.
    n_skipped = models.PositiveIntegerField(default=0, help_text="Eval items skipped, too long.")
    skipped = models.JSONField(default=list, blank=True, help_text='[{"example_id", "reason"}]')
    host = models.CharField(max_length=255, blank=True)
    environment = models.JSONField(default=dict, blank=True)
    cancel_requested = models.BooleanField(default=False)

    class Meta(Job.Meta):
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=JobStatus.values), name="eval_run_status_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"eval run {self.pk} ({self.kind}) on {self.version}"

    @property
    def kind(self) -> str:
        return "tuned" if self.training_run_id else "baseline"


class EvalPrediction(models.Model):
    """One eval item: what the model answered, what was extracted, and its per-metric scores."""

    run = models.ForeignKey(EvalRun, on_delete=models.CASCADE, related_name="predictions")
    example_id = models.BigIntegerField(help_text="The example the version item was frozen from.")
    input = models.TextField()
    reference = models.TextField()
    raw = models.TextField(help_text="The model's answer as generated.")
    extracted = models.TextField(null=True, blank=True, help_text="What was scored; null: invalid.")
    scores = models.JSONField(default=dict)

    class Meta:
        ordering = ["example_id"]
        constraints = [
            models.UniqueConstraint(fields=["run", "example_id"], name="eval_prediction_unique_item"),
        ]

    def __str__(self) -> str:
        return f"run {self.run_id} example {self.example_id}"


class Verdict(models.TextChoices):
    SHIP = "ship", "Ship"
    NO_SHIP = "no_ship", "Do not ship"


class Comparison(models.Model):
    """A candidate eval run against a baseline on the same items: a paired bootstrap interval
    of the gain, guardrail tests, and the verdict with the rule that decided it."""

    baseline = models.ForeignKey(EvalRun, on_delete=models.PROTECT, related_name="+")
    candidate = models.ForeignKey(EvalRun, on_delete=models.PROTECT, related_name="+")
    metric = models.CharField(max_length=50)
    baseline_score = models.FloatField()
    candidate_score = models.FloatField()
    delta = models.FloatField()
    ci_low = models.FloatField()
    ci_high = models.FloatField()
    resamples = models.PositiveIntegerField()
    seed = models.BigIntegerField(default=0)
    min_gain = models.FloatField(default=0.0)
    mcnemar = models.JSONField(null=True, blank=True, help_text="For a binary metric: the exact test.")
    guardrails = models.JSONField(default=list, blank=True)
    verdict = models.CharField(max_length=10, choices=Verdict.choices)
    reason = models.TextField()
    n = models.PositiveIntegerField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"comparison {self.pk}: {self.verdict}"


class Deployment(models.Model):
    """A training run's adapter serving somewhere: its live samples are checked against the data
    that trained it."""

    training_run = models.ForeignKey(TrainingRun, on_delete=models.PROTECT, related_name="deployments")
    name = models.CharField(max_length=200)
    # Figures above these raise an alert (see evaluation.drift.DEFAULT_THRESHOLDS).
    thresholds = models.JSONField(default=dict, blank=True)
    window_hours = models.FloatField(default=24.0)
    min_samples = models.PositiveIntegerField(default=50)
    # Calibrated on the version on first use: the similarity below which an input is out of distribution.
    ood_similarity = models.FloatField(null=True, blank=True)
    calibration = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["training_run", "name"], name="deployment_unique_name"),
        ]

    def __str__(self) -> str:
        return f"deployment {self.name} of run {self.training_run_id}"


class LiveSample(models.Model):
    """One input the deployed model answered, and its answer."""

    deployment = models.ForeignKey(Deployment, on_delete=models.CASCADE, related_name="samples")
    input = models.TextField()
    output = models.TextField(blank=True)
    at = models.DateTimeField()
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["deployment", "at"], name="live_sample_deployment_at")]

    def __str__(self) -> str:
        return f"sample {self.pk} of {self.deployment_id}"


class DriftReport(models.Model):
    """The drift figures of one window of a deployment's samples, kept as its history."""

    deployment = models.ForeignKey(Deployment, on_delete=models.CASCADE, related_name="reports")
    window_start = models.DateTimeField()
    window_end = models.DateTimeField()
    n = models.PositiveIntegerField()
    enough_data = models.BooleanField()
    ood_rate = models.FloatField(null=True, blank=True)
    input_drift = models.FloatField(
        null=True, blank=True, help_text="Domain-classifier AUC, live vs training."
    )
    input_drift_baseline = models.FloatField(
        null=True, blank=True, help_text="The AUC's permutation 95th percentile."
    )
    invalid_label_rate = models.FloatField(null=True, blank=True)
    json_invalid_rate = models.FloatField(null=True, blank=True)
    schema_violation_rate = models.FloatField(null=True, blank=True)
    length_shift_p = models.FloatField(null=True, blank=True, help_text="KS test p-value, output lengths.")
    alert = models.BooleanField(default=False)
    reasons = models.JSONField(default=list, blank=True)
    ood_sample_ids = models.JSONField(
        default=list, blank=True, help_text="The first out-of-distribution samples."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["deployment", "created_at"], name="drift_report_deployment")]

    def __str__(self) -> str:
        return f"drift report {self.pk} of {self.deployment_id}"


class DriftReportJob(Job):
    """A drift report asked for by a lead, computed on a worker (embedding the window's samples
    takes seconds to minutes: never inside a web request)."""

    deployment = models.ForeignKey(Deployment, on_delete=models.CASCADE, related_name="report_jobs")
    hours = models.FloatField(null=True, blank=True, help_text="Window length; null: the deployment's.")
    report = models.ForeignKey(
        DriftReport, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta(Job.Meta):
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=JobStatus.values), name="drift_report_job_status_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"drift report job {self.pk} of {self.deployment_id} ({self.status})"


class SuggestionTarget(models.TextChoices):
    QUEUE = "queue", "The labeling queue's waiting inputs"
    DRAFTS = "drafts", "Draft examples without an output"


class SuggestionRun(Job):
    """A model proposing outputs for inputs people have yet to label: the base model with the
    project's prompt card (zero- or few-shot from the latest frozen version's train split, as
    evaluation asks it), or base + a shipped (or deployed) run's adapter. Its suggestions are
    `curation.Suggestion` rows, kept only once the run succeeds."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="suggestion_runs")
    base_model = models.CharField(max_length=500)
    registered_model = models.ForeignKey(
        BaseModel, null=True, blank=True, on_delete=models.PROTECT, related_name="suggestion_runs"
    )
    base_model_sha256 = models.CharField(max_length=64, blank=True, help_text="Of the weights loaded.")
    training_run = models.ForeignKey(
        TrainingRun, null=True, blank=True, on_delete=models.PROTECT, related_name="suggestion_runs"
    )
    adapter_sha256 = models.CharField(max_length=64, blank=True)
    deployment = models.ForeignKey(
        "evaluation.Deployment", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Few-shot pairs and the system prompt come from this frozen version (none: the project's
    # current system prompt, zero-shot).
    version = models.ForeignKey(
        DatasetVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    few_shot = models.PositiveIntegerField(default=0)
    target = models.CharField(max_length=20, choices=SuggestionTarget.choices, default=SuggestionTarget.QUEUE)
    # The ids of the items (queue) or examples (drafts) to suggest for, fixed at launch.
    target_ids = models.JSONField(default=list, blank=True)
    n_targets = models.PositiveIntegerField(default=0)
    n_done = models.PositiveIntegerField(default=0)
    n_skipped = models.PositiveIntegerField(default=0, help_text="Inputs too long for the model.")
    seed = models.BigIntegerField(default=0)
    prompt_card = models.JSONField(default=dict, blank=True)
    cancel_requested = models.BooleanField(default=False)
    host = models.CharField(max_length=255, blank=True)
    environment = models.JSONField(default=dict, blank=True)

    class Meta(Job.Meta):
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=JobStatus.values), name="suggestion_run_status_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(target__in=SuggestionTarget.values), name="suggestion_run_target_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"suggestion run {self.pk} ({self.model_label})"

    @property
    def model_label(self) -> str:
        """The model as people know it: the base model, or the training run's adapter on it."""
        name = self.base_model.rstrip("/").rsplit("/", 1)[-1]
        if self.training_run_id:
            return f"training run {self.training_run_id} ({name} + adapter {self.adapter_sha256[:8]})"
        return f"{name} ({self.few_shot}-shot)" if self.few_shot else name
