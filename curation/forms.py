from django import forms

from curation.models import ExampleStatus
from curation.pipeline.formats import FORMATS

FORMAT_LABELS = {
    "auto": "Detect automatically",
    "jsonl": "JSON Lines",
    "csv": "CSV (header row)",
    "json": "JSON array",
    "openai_chat": "OpenAI chat JSONL",
    "alpaca": "Alpaca",
}


class ImportForm(forms.Form):
    file = forms.FileField()
    format = forms.ChoiceField(choices=[(name, FORMAT_LABELS[name]) for name in FORMATS], initial="auto")
    input_field = forms.CharField(required=False, max_length=200, help_text="Default: input, text, prompt, …")
    output_field = forms.CharField(
        required=False, max_length=200, help_text="Default: output, label, completion, …"
    )
    status = forms.ChoiceField(choices=ExampleStatus.choices, initial=ExampleStatus.DRAFT)

    def __init__(self, *args: object, can_approve: bool = False, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        if not can_approve:
            field = self.fields["status"]
            assert isinstance(field, forms.ChoiceField)
            field.choices = [(ExampleStatus.DRAFT, "Draft"), (ExampleStatus.SUBMITTED, "Submitted")]
