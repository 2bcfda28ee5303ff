from django.contrib import admin

from evaluation.models import Comparison, EvalRun


@admin.register(EvalRun)
class EvalRunAdmin(admin.ModelAdmin):
    list_display = ["id", "version", "training_run", "base_model", "few_shot", "status", "n", "created_at"]
    list_filter = ["status"]
    readonly_fields = ["version", "training_run", "prompt_card", "metrics", "environment"]


@admin.register(Comparison)
class ComparisonAdmin(admin.ModelAdmin):
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
