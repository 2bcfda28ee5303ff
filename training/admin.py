from django.contrib import admin

from curation.admin import ReadOnlyAdmin, ReadOnlyInline
from training.models import TrainingMetric, TrainingRun


class TrainingMetricInline(ReadOnlyInline):
    model = TrainingMetric
    extra = 0
    can_delete = False
    readonly_fields = ["step", "epoch", "train_loss", "eval_loss", "learning_rate", "tokens_per_s"]


@admin.register(TrainingRun)
class TrainingRunAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "version",
        "base_model",
        "status",
        "step",
        "total_steps",
        "best_eval_loss",
        "created_at",
    ]
    list_filter = ["status"]
    search_fields = ["name", "base_model", "host"]
    readonly_fields = [
        "version",
        "version_sha256",
        "adapter_path",
        "adapter_sha256",
        "environment",
        "preflight",
    ]
    inlines = [TrainingMetricInline]
