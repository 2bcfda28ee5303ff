from typing import Any

from django import forms

from curation.models import DatasetVersion
from training.base_models import Offered

CARRIED_SECTIONS = ("hyperparameters", "lora")


class TrainingRunForm(forms.Form):
    """The launch form: the usual knobs; the API takes every hyperparameter."""

    version = forms.ModelChoiceField(queryset=DatasetVersion.objects.none(), empty_label=None)
    base_model = forms.CharField(
        max_length=500,
        help_text=(
            "A registered model's name, or a model folder the workers can read: on a GPU host, or on this "
            "machine when training runs on the CPU (or an id in their offline cache). Choosing a registered "
            "model fills in its recommended settings."
        ),
    )
    name = forms.CharField(required=False, max_length=200)
    epochs = forms.IntegerField(
        required=False, min_value=1, max_value=100, help_text="Empty: from the set's size."
    )
    learning_rate = forms.FloatField(required=False, min_value=1e-8, max_value=1.0, help_text="Empty: 2e-4.")
    batch_size = forms.IntegerField(required=False, min_value=1, max_value=4096, help_text="Empty: 8.")
    max_seq_length = forms.IntegerField(required=False, min_value=8, help_text="Empty: 1024 tokens.")
    early_stopping_patience = forms.IntegerField(
        required=False, min_value=0, max_value=1000, help_text="Evaluations without improvement. Empty: 3."
    )
    r = forms.IntegerField(
        required=False, min_value=1, max_value=1024, label="LoRA r", help_text="Empty: 16."
    )
    alpha = forms.FloatField(required=False, min_value=1e-6, label="LoRA alpha", help_text="Empty: 32.")
    # Memory and scale (docs/training.md): the worker refuses what its host cannot run.
    gradient_checkpointing = forms.BooleanField(
        required=False, help_text="Less activation memory for about a third more compute."
    )
    quantization = forms.ChoiceField(
        choices=[("none", "none (bf16 base)"), ("nf4", "nf4: QLoRA, a 4-bit base (GPU with bitsandbytes)")],
        initial="none",
        required=False,
    )
    batching = forms.ChoiceField(
        choices=[("fixed", "fixed: batch_size examples"), ("token_budget", "token budget: tokens_per_batch")],
        initial="fixed",
        required=False,
    )
    tokens_per_batch = forms.IntegerField(
        required=False,
        min_value=8,
        help_text="Token budget only. Empty: batch size times max sequence length.",
    )
    gpus = forms.IntegerField(
        required=False, min_value=1, max_value=64, label="GPUs", help_text="Empty: all the worker has."
    )

    HYPERPARAMETERS = (
        "epochs",
        "learning_rate",
        "batch_size",
        "max_seq_length",
        "early_stopping_patience",
        "gradient_checkpointing",
        "quantization",
        "batching",
        "tokens_per_batch",
        "gpus",
    )
    LORA = ("r", "alpha")
    # An earlier run's settings the form has no field for ("Launch again"): kept as they were.
    carried = forms.JSONField(required=False, widget=forms.HiddenInput)

    def __init__(
        self, *args: Any, versions: Any, base_models: list[Offered] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self._start_from_model(base_models or [])
        version_field = self.fields["version"]
        assert isinstance(version_field, forms.ModelChoiceField)
        version_field.queryset = versions
        version_field.label_from_instance = _version_label  # type: ignore[method-assign,assignment]

    def _start_from_model(self, base_models: list[Offered]) -> None:
        """One model registered: it is preselected and the fields start from its recommendations
        (the page's script does the same when another registered model is chosen)."""
        if len(base_models) != 1 or self.is_bound:
            return
        (model,) = base_models
        self.initial.setdefault("base_model", model.name)
        for name, value in model.settings.items():
            if name in self.fields:
                self.initial.setdefault(name, value)

    def clean_carried(self) -> dict[str, dict[str, Any]]:
        carried = self.cleaned_data.get("carried") or {}
        if not isinstance(carried, dict) or not all(
            section in CARRIED_SECTIONS and isinstance(values, dict) for section, values in carried.items()
        ):
            raise forms.ValidationError("Settings carried from an earlier run must be an object of sections.")
        return carried

    def launch_arguments(self) -> dict[str, Any]:
        data = self.cleaned_data
        carried = data.get("carried") or {}
        return {
            "version": data["version"],
            "base_model": data["base_model"],
            "name": data["name"],
            "hyperparameters": {
                **carried.get("hyperparameters", {}),
                **{name: data[name] for name in self.HYPERPARAMETERS if data[name] not in (None, "")},
            },
            "lora": {
                **carried.get("lora", {}),
                **{name: data[name] for name in self.LORA if data[name] is not None},
            },
        }


def _version_label(version: DatasetVersion) -> str:
    """How the version picker names a version: "v2 holiday intents (48 train, 12 eval)"."""
    name = f"v{version.number} {version.custom_name}".rstrip()
    return f"{name} ({version.counts.get('train', 0)} train, {version.counts.get('eval', 0)} eval)"
