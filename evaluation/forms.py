"""Forms of the evaluation pages."""

from __future__ import annotations

from typing import Any

from django import forms

from curation.models import Project
from curation.numbering import numbered
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
        numbers = _training_numbers(shipped)
        choices = [(BASE, "Base model")] + [
            (f"run:{run.pk}", _choice_label(run, numbers[run.pk])) for run in shipped
        ]
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


def adapter_label(*, number: int, base_model: str, adapter_sha256: str, title: str = "") -> str:
    """A training run's adapter as pages name it, by the run's per-project number as the training
    pages show it (not its id): "Run 7: name (tiny-banking77 + adapter 1a2b3c4d)"."""
    name = base_model.rstrip("/").rsplit("/", 1)[-1]
    title = f": {title}" if title else ""
    return f"Run {number}{title} ({name} + adapter {adapter_sha256[:8]})"


def _choice_label(run: TrainingRun, number: int) -> str:
    return adapter_label(
        number=number, base_model=run.base_model, adapter_sha256=run.adapter_sha256, title=run.name
    )


def _training_numbers(runs: list[TrainingRun]) -> dict[int, int]:
    """Each run's per-project number, in one query."""
    numbered_runs = numbered(TrainingRun.objects.filter(pk__in=[run.pk for run in runs]), "version__project")
    return {run.pk: run.number for run in numbered_runs}  # type: ignore[attr-defined]
