"""Suggestion runs on pages: a run made with an adapter names its training run by the per-project
number the training pages show ("Run 7"), not its id (which the API keeps)."""

from __future__ import annotations

from django import template
from django.db.models import QuerySet

from curation.numbering import numbered
from evaluation.forms import adapter_label
from evaluation.models import SuggestionRun
from training.models import TrainingRun

register = template.Library()


@register.filter
def with_training_numbers(runs: QuerySet[SuggestionRun]) -> QuerySet[SuggestionRun]:
    """`{% for run in runs|with_training_numbers %}`: each run with its training run's number, in
    the list's one query (as eval runs and deployments have theirs)."""
    return numbered(
        runs,
        "project",
        name="training_number",
        id_field="training_run_id",
        of=TrainingRun,
        of_project="version__project",
    )


@register.filter
def suggestion_model(run: SuggestionRun) -> str:
    """The run's model as pages name it: "Run 7 (tiny + adapter 1a2b3c4d)", or the base model."""
    if not run.training_run_id:
        return run.model_label
    number = getattr(run, "training_number", None) or _training_number(run.training_run_id)
    return adapter_label(number=number, base_model=run.base_model, adapter_sha256=run.adapter_sha256)


def _training_number(training_run_id: int) -> int:
    run = numbered(TrainingRun.objects.filter(pk=training_run_id), "version__project").get()
    return int(run.number)  # type: ignore[attr-defined]
