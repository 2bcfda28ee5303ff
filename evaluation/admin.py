from django.contrib import admin

from curation.admin import ReadOnlyAdmin
from evaluation.models import Comparison, EvalRun


@admin.register(EvalRun)
class EvalRunAdmin(ReadOnlyAdmin):
    list_display = ["id", "version", "training_run", "base_model", "few_shot", "status", "n", "created_at"]
    list_filter = ["status"]
    readonly_fields = ["version", "training_run", "prompt_card", "metrics", "environment"]


@admin.register(Comparison)
class ComparisonAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "baseline",
        "candidate",
        "metric",
        "delta",
        "ci_low",
        "ci_high",
        "verdict",
        "created_at",
    ]
    list_filter = ["verdict"]
    readonly_fields = ["baseline", "candidate", "guardrails", "mcnemar"]
