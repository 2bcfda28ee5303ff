"""Forms of the evaluation pages."""

from __future__ import annotations

from typing import Any

from django import forms

from curation.models import Project
from evaluation import selectors
from evaluation.models import SuggestionTarget
from evaluation.services import MAX_FEW_SHOT
from training.models import TrainingRun

BASE = "base"


class SuggestionRunForm(forms.Form):
    """Launch a suggestion run: the base model (prompting) or a shipped adapter, on what."""

    model = forms.ChoiceField(
        help_text="The base model with the project's prompt, or a training run whose comparison said ship."
    )
    base_model = forms.CharField(
        required=False,
        max_length=500,
        label="Base model",
        help_text=(
            "For the base model: a registered model's name, or a folder the workers can read (or a model id "
            "in their offline cache)."
        ),
    )
    few_shot = forms.IntegerField(
        required=False,
        min_value=0,
        max_value=MAX_FEW_SHOT,
        initial=0,
        label="Few-shot examples",
        help_text="For the base model: pairs from the latest frozen version's train split.",
    )
    target = forms.ChoiceField(
        choices=SuggestionTarget.choices, initial=SuggestionTarget.QUEUE, label="Suggest for"
    )
    limit = forms.IntegerField(
        required=False, min_value=1, help_text="Empty: every waiting input (the queue's next ones first)."
    )

    def __init__(self, *args: Any, shipped: list[TrainingRun], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        choices = [(BASE, "Base model")] + [(f"run:{run.pk}", _adapter_label(run)) for run in shipped]
        model = self.fields["model"]
        assert isinstance(model, forms.ChoiceField)
        model.choices = choices

    def launch_arguments(self, project: Project) -> dict[str, Any]:
        """The service's keyword arguments (after is_valid)."""
        data = self.cleaned_data
        arguments: dict[str, Any] = {"target": data["target"], "limit": data["limit"]}
        if data["model"] == BASE:
            return arguments | {"base_model": data["base_model"], "few_shot": data["few_shot"] or 0}
        run_id = int(data["model"].removeprefix("run:"))
        return arguments | {"training_run": selectors.project_training_run(project=project, run_id=run_id)}


def _adapter_label(run: TrainingRun) -> str:
    name = run.base_model.rstrip("/").rsplit("/", 1)[-1]
    title = f" {run.name}" if run.name else ""
    return f"Training run {run.pk}{title} ({name} + adapter {run.adapter_sha256[:8]})"
