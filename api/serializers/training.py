from typing import Any

from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from api.serializers.base_models import RegisteredModelOutput
from api.serializers.common import JobOutput, StrictInputSerializer
from curation.models import JobStatus
from training.merged import merged_record
from training.models import TrainingRun


class TrainingRunInput(StrictInputSerializer):
    version = serializers.IntegerField(min_value=1, max_value=2**63 - 1)
    base_model = serializers.CharField(
        max_length=500, help_text="A registered model's name, or a model folder on the workers (or a hub id)."
    )
    name = serializers.CharField(required=False, default="", allow_blank=True, max_length=200)
    # Checked and resolved by training.hyperparameters, which names any bad setting.
    lora = serializers.JSONField(required=False, default=dict)
    hyperparameters = serializers.JSONField(
        required=False,
        default=dict,
        help_text=(
            "Any of epochs, learning_rate, batch_size, gradient_accumulation_steps, max_seq_length, eval_steps, "
            "early_stopping_patience, seed, ...; memory and scale: gradient_checkpointing (bool), "
            'quantization ("none" | "nf4"), batching ("fixed" | "token_budget"), tokens_per_batch, '
            'gpus ("all" | 1..64). See docs/training.md.'
        ),
    )


class TrainingMetricOutput(serializers.Serializer):
    step = serializers.IntegerField()
    epoch = serializers.FloatField()
    train_loss = serializers.FloatField(allow_null=True)
    eval_loss = serializers.FloatField(allow_null=True)
    learning_rate = serializers.FloatField(allow_null=True)
    tokens_per_s = serializers.FloatField(allow_null=True)


class LearningOutput(serializers.Serializer):
    """Whether a succeeded run's adapter learned: its eval loss before training against its best."""

    verdict = serializers.ChoiceField(choices=["barely", "some", "learned"])
    eval_loss_fell = serializers.FloatField(
        help_text="The fraction of the eval loss before training removed."
    )
    message = serializers.CharField()


class TrainingScaleOutput(serializers.Serializer):
    """Memory and scale: the methods the run asked for, what its worker used (null before a worker
    starts it), and the memory estimate its preflight made."""

    gradient_checkpointing = serializers.BooleanField()
    quantization = serializers.ChoiceField(choices=["none", "nf4"])
    batching = serializers.ChoiceField(choices=["fixed", "token_budget"])
    tokens_per_batch = serializers.IntegerField(allow_null=True)
    gpus = serializers.JSONField(help_text='"all" or a number of GPUs.')
    processes = serializers.IntegerField(allow_null=True)
    device = serializers.CharField(allow_null=True)
    launcher = serializers.CharField(allow_null=True)
    backend = serializers.CharField(allow_null=True)
    memory_estimate_bytes = serializers.IntegerField(allow_null=True)
    gpu_free_bytes = serializers.IntegerField(allow_null=True, help_text="Null on a CPU worker.")


class MergedFileOutput(serializers.Serializer):
    name = serializers.CharField()
    size = serializers.IntegerField(help_text="In bytes.")
    sha256 = serializers.CharField()
    url = serializers.CharField(help_text="Where to download it (GET).")


class MergedModelOutput(serializers.Serializer):
    """The run's adapter merged into its base model (training/merged.py): asked for by a lead
    once the run succeeded, made by a GPU worker."""

    status = serializers.ChoiceField(choices=JobStatus.values)
    requested_at = serializers.DateTimeField()
    requested_by = serializers.CharField(allow_null=True)
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    host = serializers.CharField()
    error = serializers.CharField()
    base_model = serializers.CharField()
    adapter_sha256 = serializers.CharField(help_text="The adapter merged.")
    dtype = serializers.CharField(allow_null=True, help_text="The weights' dtype: the base model's own.")
    path = serializers.CharField(help_text="Its storage folder, once merged.")
    files = MergedFileOutput(many=True, help_text="Each file of the model folder, once merged.")


def merged_output(run: TrainingRun, record: dict[str, Any]) -> dict[str, Any]:
    """The record with each file's download URL."""
    files = [
        {**file, "url": reverse("api-training-run-merged-file", args=[run.pk, file["name"]])}
        for file in record["files"]
    ]
    return dict(MergedModelOutput({**record, "files": files}).data)


class TrainingRunOutput(JobOutput):
    project = serializers.IntegerField(source="version.project_id")
    version = serializers.IntegerField(source="version_id")
    version_sha256 = serializers.CharField()
    name = serializers.CharField()
    base_model = serializers.CharField(help_text="The path the workers load (a registered model's path).")
    registered_model = RegisteredModelOutput(
        allow_null=True, help_text="The registered model run on (null: an unregistered path or id)."
    )
    base_model_config_sha256 = serializers.CharField()
    base_model_sha256 = serializers.CharField(
        help_text="Of the weights the worker loaded; empty until it starts (docs/training.md)."
    )
    lora = serializers.JSONField()
    hyperparameters = serializers.JSONField()
    environment = serializers.JSONField()
    preflight = serializers.JSONField()
    host = serializers.CharField()
    step = serializers.IntegerField()
    total_steps = serializers.IntegerField()
    heartbeat_at = serializers.DateTimeField(allow_null=True)
    cancel_requested = serializers.BooleanField()
    attempts = serializers.IntegerField()
    resumed_from_step = serializers.IntegerField(allow_null=True)
    stopped_early = serializers.BooleanField()
    best_step = serializers.IntegerField(allow_null=True)
    best_eval_loss = serializers.FloatField(allow_null=True)
    initial_eval_loss = serializers.FloatField(allow_null=True)
    learning = LearningOutput(allow_null=True, read_only=True, help_text="Null until the run succeeds.")
    scale = TrainingScaleOutput(read_only=True)
    metrics = serializers.SerializerMethodField()
    adapter = serializers.SerializerMethodField()
    merged = serializers.SerializerMethodField(help_text="Null until a lead asks for the merged model.")

    def get_metrics(self, run: TrainingRun) -> list[dict[str, Any]]:
        return list(TrainingMetricOutput(run.metrics.all(), many=True).data)

    def get_adapter(self, run: TrainingRun) -> dict[str, str] | None:
        if not run.adapter_sha256:
            return None
        return {"path": run.adapter_path, "sha256": run.adapter_sha256}

    @extend_schema_field(MergedModelOutput(allow_null=True))
    def get_merged(self, run: TrainingRun) -> dict[str, Any] | None:
        record = merged_record(run) if run.adapter_sha256 else None
        return None if record is None else merged_output(run, record)


class TrainingRunSummaryOutput(JobOutput):
    """A run in a list: what the run table shows, without the metrics."""

    project = serializers.IntegerField(source="version.project_id")
    version = serializers.IntegerField(source="version_id")
    name = serializers.CharField()
    base_model = serializers.CharField()
    registered_model = RegisteredModelOutput(
        allow_null=True, help_text="The registered model run on (null: an unregistered path or id)."
    )
    base_model_sha256 = serializers.CharField()
    step = serializers.IntegerField()
    total_steps = serializers.IntegerField()
    stopped_early = serializers.BooleanField()
    best_eval_loss = serializers.FloatField(allow_null=True)
    learning = LearningOutput(allow_null=True, read_only=True, help_text="Null until the run succeeds.")
