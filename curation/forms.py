import json
from typing import Any

from django import forms

from curation.dedup.short_texts import FILLER_DEFAULTS, FILLER_LANGUAGES, filler_list
from curation.models import (
    MAX_OVERLAP,
    DedupFields,
    DedupMethod,
    Example,
    ExampleStatus,
    LabelingFill,
    LabelingOrder,
    Project,
    Role,
    Shingle,
    TaskType,
)
from curation.pipeline import json_values
from curation.pipeline.formats import FORMATS
from curation.services.import_rows import UNLABELED
from curation.services.stale_settings import changes_since_opened, reopened, settings_fingerprints

FORMAT_LABELS = {
    "auto": "Detect automatically",
    "jsonl": "JSON Lines",
    "csv": "CSV (header row)",
    "json": "JSON array",
    "openai_chat": "OpenAI chat JSONL",
    "alpaca": "Alpaca",
    "parquet": "Parquet (Hugging Face datasets, pandas)",
}


class ImportForm(forms.Form):
    file = forms.FileField()
    format = forms.ChoiceField(choices=[(name, FORMAT_LABELS[name]) for name in FORMATS], initial="auto")
    input_field = forms.CharField(required=False, max_length=200, help_text="Default: input, text, prompt, …")
    output_field = forms.CharField(
        required=False, max_length=200, help_text="Default: output, label, completion, …"
    )
    status = forms.ChoiceField(
        choices=ExampleStatus.choices,
        initial=ExampleStatus.DRAFT,
        label="Rows become",
        help_text="Examples of this status, or (leads) inputs of the labeling queue: a file of inputs only.",
    )

    def __init__(self, *args: Any, can_approve: bool = False, is_lead: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["status"]
        assert isinstance(field, forms.ChoiceField)
        choices = (
            list(ExampleStatus.choices)
            if can_approve
            else [
                (ExampleStatus.DRAFT, "Draft"),
                (ExampleStatus.SUBMITTED, "Submitted"),
            ]
        )
        if is_lead:
            choices.append((UNLABELED, "Unlabeled: inputs for the labeling queue"))
        field.choices = choices


class SchemaField(forms.JSONField):
    """A JSON field that shows no schema as an empty box (not `null`)."""

    def prepare_value(self, value: Any) -> Any:
        return "" if value is None else super().prepare_value(value)


def from_browser(text: str) -> str:
    """Text from a form's text box with its line breaks as people typed them: a browser sends
    each as CR LF (the HTML form encoding), which stored as it came would put "\r\n" into
    training data written on the site and "\n" into the same data imported."""
    return text.replace("\r\n", "\n")


class BrowserText(forms.CharField):
    """A CharField whose line breaks are LF, as typed (from_browser)."""

    def to_python(self, value: Any) -> str:
        return from_browser(super().to_python(value) or "")


class ProjectFieldsForm(forms.Form):
    """The settings a project is created with and later changed; the services validate them."""

    name = forms.CharField(max_length=200)
    target_behavior = BrowserText(widget=forms.Textarea(attrs={"rows": 3}))
    system_prompt = BrowserText(required=False, widget=forms.Textarea(attrs={"rows": 4}))
    labels = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "class": "label-source", "data-testid": "labels-field"}),
        help_text="Classification: the labels an output may be, one a line.",
    )
    output_schema = SchemaField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 8, "class": "schema-source", "spellcheck": "false"}),
        help_text="Extraction: the JSON Schema every output must satisfy.",
    )
    min_gain = forms.FloatField(
        required=False,
        min_value=-1.0,
        max_value=1.0,
        label="Minimum gain to ship",
        help_text="A tuned model ships only when the 95% interval of its gain on the primary metric is above this.",
        widget=forms.NumberInput(attrs={"step": "0.01"}),
    )
    reviewers_may_not_review_own = forms.BooleanField(
        required=False,
        label="Separation of duties",
        help_text="Reviewers may not approve or reject examples they wrote or last edited "
        "(leads may; the audit log marks it a self-review).",
    )
    guidelines = BrowserText(
        required=False,
        strip=False,
        widget=forms.Textarea(
            attrs={
                "rows": 10,
                "data-testid": "guidelines-field",
                "placeholder": "## What a good output is\n\n## Good outputs\n- input → output, and why\n\n"
                "## Bad outputs\n- input → output, and what is wrong",
            }
        ),
        help_text="Markdown: what a good output is, with examples of good and bad outputs. "
        "Annotators see them on Write and Review.",
    )

    def changes(self) -> dict[str, Any]:
        data = {name: self.cleaned_data[name] for name in ProjectFieldsForm.base_fields}
        data["labels"] = [line.strip() for line in data["labels"].splitlines() if line.strip()]
        if data.get("min_gain") is None:  # left empty: unchanged (the default on creation)
            data.pop("min_gain", None)
        return data


class ProjectCreateForm(ProjectFieldsForm):
    task_type = forms.ChoiceField(choices=TaskType.choices, help_text="Fixed once the project is created.")
    field_order = ["name", "task_type"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("initial", {"reviewers_may_not_review_own": True, "min_gain": 0.0})
        super().__init__(*args, **kwargs)

    def changes(self) -> dict[str, Any]:
        return {**super().changes(), "task_type": self.cleaned_data["task_type"]}


class ProjectSettingsForm(ProjectFieldsForm):
    # Filled by the label editor: {"old name": "new name"} for labels renamed in place.
    label_renames = forms.JSONField(required=False, widget=forms.HiddenInput)
    # The settings as the page was opened (stale_settings): another lead's save meanwhile is kept.
    opened_with = forms.JSONField(required=False, widget=forms.HiddenInput)
    relabel = forms.BooleanField(
        required=False, label="Move the examples of renamed labels to their new names"
    )
    # The labeling queue (see docs/user-guide.md, "Labeling queue"); left empty: unchanged.
    labeling_overlap = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=MAX_OVERLAP,
        label="Annotations per input (overlap)",
        help_text=f"How many annotators label each queued input independently: 1 to {MAX_OVERLAP}.",
    )
    labeling_overlap_percent = forms.FloatField(
        required=False,
        min_value=0.01,
        max_value=100,
        label="Share of inputs that get the overlap (%)",
        help_text="A seeded sample of this share of the queued inputs gets the overlap, the rest one "
        "annotation each: agreement measured at low cost. 100 gives every input the overlap.",
        widget=forms.NumberInput(attrs={"step": "any"}),
    )
    labeling_sample_seed = forms.IntegerField(
        required=False,
        min_value=0,
        max_value=2**31 - 1,
        label="Sample seed",
        help_text="The same seed picks the same inputs for the overlap sample.",
    )
    labeling_fill = forms.ChoiceField(
        required=False,
        choices=LabelingFill.choices,
        label="Filling the overlap",
        help_text="With an overlap above 1: finish started inputs first (the default), so each input "
        "becomes an example (or a disagreement) as soon as its annotators are done and agreement "
        "can be measured from the first day; or give every input a first annotation before any "
        "gets a second, so the whole queue is covered once before agreement is measured.",
    )
    labeling_order = forms.ChoiceField(
        required=False,
        choices=LabelingOrder.choices,
        label="Order",
        help_text="Among equally covered inputs, which come first: as queued; the least confident "
        "model suggestion (inputs without one after those); or the inputs least like the latest "
        "frozen version's training inputs (needs a frozen version; a worker ranks them).",
    )
    labeling_blind_percent = forms.FloatField(
        required=False,
        min_value=0,
        max_value=100,
        label="Suggestions shown only after answering (%)",
        help_text="For a seeded sample of this share of the inputs, annotators see the model's "
        "suggestion only once they have answered: how often the model is right, measured without "
        "its influence. 0: always shown first.",
        widget=forms.NumberInput(attrs={"step": "any"}),
    )

    # Near-duplicates in short texts (see docs/quality-jobs.md, "Short texts").
    near_filler_words = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "data-testid": "filler-words", "spellcheck": "false"}),
        label="Filler words",
        help_text="Words and phrases people add to a request without changing it, one a line: stripped "
        "from the start and the end of short texts before duplicates and contradictions are looked for. "
        "Empty: none.",
    )
    near_filler_language = forms.ChoiceField(
        required=False,
        choices=[("", "—"), *FILLER_LANGUAGES],
        label="Replace them with the defaults for",
        help_text="Applied on saving, in place of the list above.",
    )
    near_currency_folds = forms.BooleanField(
        required=False,
        label="Currency signs count as one",
        help_text="'extra £1 charge' is then a near-duplicate of 'extra €1 charge'. Untick where the "
        "output depends on the currency (an extraction of amounts does, by default).",
    )

    def __init__(self, *args: Any, project: Project, **kwargs: Any) -> None:
        kwargs["initial"] = {
            "near_filler_words": "\n".join(project.filler_words),
            "near_currency_folds": project.currency_folds,
            "name": project.name,
            "target_behavior": project.target_behavior,
            "system_prompt": project.system_prompt,
            "labels": "\n".join(project.labels),
            "output_schema": project.output_schema,
            "min_gain": project.min_gain,
            "reviewers_may_not_review_own": project.reviewers_may_not_review_own,
            "guidelines": project.guidelines,
            "label_renames": {},
            "opened_with": settings_fingerprints(project),
            "labeling_overlap": project.labeling_overlap,
            "labeling_overlap_percent": round(project.labeling_overlap_share * 100, 6),
            "labeling_sample_seed": project.labeling_sample_seed,
            "labeling_fill": project.labeling_fill,
            "labeling_order": project.labeling_order,
            "labeling_blind_percent": round(project.suggestion_blind_share * 100, 6),
        }
        super().__init__(*args, **kwargs)
        self.project = project

    def changes(self) -> dict[str, Any]:
        data = super().changes()
        data["labels"] = _merged(data["labels"], self._rename_targets())
        for name in ("labeling_overlap", "labeling_sample_seed"):
            if self.cleaned_data.get(name) is not None:
                data[name] = self.cleaned_data[name]
        percent = self.cleaned_data.get("labeling_overlap_percent")
        # The percentage shown is rounded: an unchanged box keeps the stored share exactly.
        if percent is not None and abs(percent / 100 - self.project.labeling_overlap_share) > 1e-9:
            data["labeling_overlap_share"] = percent / 100
        for name in ("labeling_fill", "labeling_order"):  # left empty: unchanged
            if self.cleaned_data.get(name):
                data[name] = self.cleaned_data[name]
        blind = self.cleaned_data.get("labeling_blind_percent")
        if blind is not None and abs(blind / 100 - self.project.suggestion_blind_share) > 1e-9:
            data["suggestion_blind_share"] = blind / 100
        if "near_filler_words" in self.data:  # the short-texts fieldset was on the page posted
            language = self.cleaned_data.get("near_filler_language")
            typed = filler_list(self.cleaned_data.get("near_filler_words") or "")
            data["filler_words"] = list(FILLER_DEFAULTS[language]) if language else typed
            data["currency_folds"] = bool(self.cleaned_data.get("near_currency_folds"))
        opened = self._opened()
        return changes_since_opened(self.project, opened, data) if opened is not None else data

    def reopen(self, fields: list[str]) -> None:
        """Carry the fingerprints of now for `fields` (settings both leads changed), so that saving
        again replaces the other lead's value of those only."""
        fingerprints = json.dumps(reopened(self.project, self._opened() or {}, fields))
        self.data = {**dict(self.data.items()), self.add_prefix("opened_with"): fingerprints}  # single values

    def _opened(self) -> dict[str, str] | None:
        """The page's fingerprints (stale_settings); None from a post without them (a script)."""
        opened = self.cleaned_data.get("opened_with")
        return opened if isinstance(opened, dict) else None

    def clean_label_renames(self) -> dict[str, str]:
        """The label editor's {"old name": "new name"}; anything else is a hand-made post."""
        renames = self.cleaned_data.get("label_renames") or {}
        if not isinstance(renames, dict) or not all(
            isinstance(old, str) and isinstance(new, str) for old, new in renames.items()
        ):
            raise forms.ValidationError('Label renames must be an object of "old name": "new name".')
        return renames

    def _rename_targets(self) -> set[str]:
        return set((self.cleaned_data.get("label_renames") or {}).values())

    def renames(self) -> dict[str, str]:
        """The renames to apply to examples: only when the lead asked to relabel."""
        renames = self.cleaned_data.get("label_renames") or {}
        if not self.cleaned_data.get("relabel"):
            return {}
        return {old: new for old, new in renames.items() if old != new}


def _merged(labels: list[str], rename_targets: set[str]) -> list[str]:
    """A label renamed to another's name merges into it: the name is listed once. Any other
    repeat stays, for validation to refuse."""
    seen: set[str] = set()
    kept = []
    for label in labels:
        if label in seen and label in rename_targets:
            continue
        seen.add(label)
        kept.append(label)
    return kept


class QueueInputsForm(forms.Form):
    """Inputs pasted one a line (chat: a JSON list of messages a line) for the labeling queue."""

    inputs = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 8, "data-testid": "queue-inputs", "spellcheck": "false"}),
        strip=False,
        label="Inputs, one a line",
    )

    def __init__(self, *args: Any, project: Project, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.project = project
        if project.task_type == TaskType.CHAT:
            self.fields[
                "inputs"
            ].label = 'Conversations, one a line as a JSON list: [{"role": "user", "content": "…"}]'

    def clean_inputs(self) -> list[Any]:
        numbered = [
            (number, line)
            for number, line in enumerate(self.cleaned_data["inputs"].splitlines(), start=1)
            if line.strip()
        ]
        if not numbered:
            raise forms.ValidationError("Paste at least one input.")
        self.line_numbers = [number for number, _ in numbered]  # blank lines are skipped, not counted
        if self.project.task_type != TaskType.CHAT:
            return [line.strip() for _, line in numbered]
        return [self._conversation(number, line) for number, line in numbered]

    def _conversation(self, number: int, line: str) -> Any:
        try:
            return json_values.loads(line)
        except ValueError as exc:
            raise forms.ValidationError(f"Line {number} is not a JSON list of messages: {exc}") from exc

    def rows(self) -> list[dict[str, Any]]:
        """The inputs as items_enqueue takes them (it validates each)."""
        return [{"input": value} for value in self.cleaned_data["inputs"]]

    def row_names(self) -> list[str]:
        """Each input as the person who pasted it finds it: its line in the box."""
        return [f"Line {number}" for number in self.line_numbers]


class MemberForm(forms.Form):
    username = forms.CharField(max_length=150)
    role = forms.ChoiceField(choices=Role.choices, initial=Role.ANNOTATOR)


class ExampleForm(forms.Form):
    """One example, shaped by the project's task type; the services do the real validation."""

    input = BrowserText(required=False, widget=forms.Textarea(attrs={"rows": 4}), strip=False)
    messages = forms.CharField(
        required=False, widget=forms.HiddenInput, help_text="Chat: the messages as JSON."
    )
    output = BrowserText(required=False, widget=forms.Textarea(attrs={"rows": 4}), strip=False)
    revision = forms.IntegerField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args: Any, project: Project, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.project = project
        if project.task_type == TaskType.CLASSIFICATION:
            choices = [("", "Choose a label…"), *((label, label) for label in project.labels)]
            self.fields["output"] = forms.ChoiceField(choices=choices, required=False, label="Label")
        if project.task_type == TaskType.EXTRACTION:
            self.fields["output"].widget.attrs.update({"class": "json", "spellcheck": "false"})
            self.fields["output"].label = "Output (JSON)"

    def content(self) -> dict[str, Any]:
        """The input and output as the services take them."""
        if self.project.task_type == TaskType.CHAT:
            try:
                messages = json_values.loads(self.cleaned_data["messages"] or "[]")
            except ValueError:  # malformed, or nothing a database could store: the service says so
                messages = None
            return {"input": messages, "output": self.cleaned_data["output"]}
        return {"input": self.cleaned_data["input"], "output": self.cleaned_data["output"]}

    @classmethod
    def initial_for(cls, example: Example) -> dict[str, Any]:
        if example.project.task_type == TaskType.CHAT:
            return {"messages": example.input, "output": example.output, "revision": example.revision}
        return {"input": example.input, "output": example.output, "revision": example.revision}


class FlagForm(forms.Form):
    other = forms.IntegerField(widget=forms.HiddenInput)
    note = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}), max_length=10_000)


class DedupJobForm(forms.Form):
    method = forms.ChoiceField(choices=DedupMethod.choices)
    compare = forms.ChoiceField(choices=DedupFields.choices, initial=DedupFields.INPUT, label="Compare")
    shingle = forms.ChoiceField(
        choices=Shingle.choices, initial=Shingle.AUTO, label="MinHash shingles", required=False
    )
    threshold = forms.FloatField(
        required=False,
        min_value=0.01,
        max_value=1.0,
        help_text="MinHash: Jaccard similarity (default 0.8); embedding: cosine (default 0.95).",
        widget=forms.NumberInput(
            # "any": a browser checks a step from `min`, so 0.05 allowed only 0.01, 0.06, ... 0.81
            attrs={"step": "any", "placeholder": "threshold", "aria-label": "Threshold"}
        ),
    )

    def job_parameters(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "method": data["method"],
            "fields": data["compare"],
            "threshold": data["threshold"],
            "shingle": data["shingle"] or Shingle.AUTO,
        }


class VersionForm(forms.Form):
    name = forms.CharField(required=False, max_length=200, help_text="Empty: v<number>.")
    eval_fraction = forms.FloatField(
        initial=0.1,
        min_value=0.0,
        max_value=0.5,
        label="Eval share",
        help_text="Held out for evaluation, stratified by label for classification.",
        widget=forms.NumberInput(attrs={"step": "0.01"}),
    )
    seed = forms.IntegerField(
        initial=0, min_value=0, max_value=2**63 - 1, help_text="Same data and seed: same split."
    )
    note = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    block_on_leakage = forms.BooleanField(
        required=False, label="Fail the freeze if eval items have near copies in train"
    )
