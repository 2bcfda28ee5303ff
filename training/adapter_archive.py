"""The downloadable adapter: a run's adapter files as a zip, with a README of Finch's own in place
of the model card peft's `save_pretrained` writes (a template of "[More Information Needed]")."""

from __future__ import annotations

import io
import json
import zipfile

from django.core.files.storage import default_storage

from curation.services import version_exports
from training.models import TrainingRun
from training.selectors import run_number

README = "README.md"


def adapter_zip(run: TrainingRun) -> bytes:
    """The files of the run's adapter folder, zipped, its README replaced by `adapter_readme`."""
    _, names = default_storage.listdir(run.adapter_path)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(set(names) - {README}):
            with default_storage.open(f"{run.adapter_path}/{name}", "rb") as handle:
                archive.writestr(name, handle.read())
        archive.writestr(README, adapter_readme(run))
    return buffer.getvalue()


def adapter_readme(run: TrainingRun) -> str:
    """What the adapter is (base model, run, dataset version, LoRA settings) and how to load it."""
    number = run_number(run)
    version = run.version
    title = f"training run {number}" + (f" ({run.name})" if run.name else "")
    lines = [
        f"# LoRA adapter of {title}, project {version.project.name}",
        "",
        "Trained by Finch on one frozen dataset version; the record below reproduces it.",
        "",
        f"- Base model: `{run.base_model}`" + _registered(run),
        f"- Training run: {number} of project {version.project.name} (id {run.pk})",
        f"- Dataset version: v{version.number} (sha256 {run.version_sha256})",
        f"- LoRA: {_lora(run.lora)}",
        f"- Adapter weights sha256: {run.adapter_sha256}",
    ]
    if run.best_eval_loss is not None:
        lines.append(f"- Best eval loss: {run.best_eval_loss:.4f} at step {run.best_step}")
    return "\n".join([*lines, "", *_how_to_load(run.base_model), "", *_how_to_prompt(run), ""])


def _registered(run: TrainingRun) -> str:
    if run.registered_model is None:
        return ""
    return f" (registered in Finch as `{run.registered_model.name}`)"


def _lora(lora: dict[str, object]) -> str:
    settings = ", ".join(f"{key}={lora[key]}" for key in ("r", "alpha", "dropout") if key in lora)
    targets = lora.get("target_modules")
    return settings + (f", target modules {json.dumps(targets)}" if targets else "")


def _how_to_load(base_model: str) -> list[str]:
    # The base model's path is where Finch's workers read it: another host needs its own copy.
    return [
        "## Loading it",
        "",
        "Unzip this archive into a folder, then with `transformers` and `peft`:",
        "",
        "```python",
        "from peft import PeftModel",
        "from transformers import AutoModelForCausalLM, AutoTokenizer",
        "",
        f"base = AutoModelForCausalLM.from_pretrained({base_model!r})",
        f"tokenizer = AutoTokenizer.from_pretrained({base_model!r})",
        'model = PeftModel.from_pretrained(base, "path/to/this/folder")',
        "```",
        "",
        "The base model's path is where Finch's workers read it; elsewhere, point at a copy of the",
        "same weights. `model.merge_and_unload()` folds the adapter in for serving without peft.",
    ]


def _how_to_prompt(run: TrainingRun) -> list[str]:
    """The conversation it was trained on (training/prompts.py): asked otherwise (a bare user
    turn without the system prompt), a tuned classifier may answer in words, not a label."""
    shown = version_exports.recorded(run.version)
    system = shown.system_prompt.strip()
    lines = [
        "## Prompting it",
        "",
        "Ask it as it was trained: the tokenizer's chat template (Finch's plain `### Input:` /",
        "`### Output:` format for a base model without one) over",
    ]
    if system:
        lines += ["", "```python", "messages = [", f"    {{'role': 'system', 'content': {system!r}}},"]
    else:
        lines += ["", "```python", "messages = ["]
    lines += [
        "    {'role': 'user', 'content': text},",
        "]",
        "prompt = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)",
        "```",
    ]
    labels = _labels(run)
    if labels:
        lines += ["", f"It answers with one of the labels: {', '.join(f'`{label}`' for label in labels)}."]
    return lines


def _labels(run: TrainingRun) -> list[str]:
    """The version's labels as recorded at freeze (a classification project's), else none."""
    project = (run.version.manifest or {}).get("project") or {}
    labels = project.get("labels") if project.get("task_type") == "classification" else None
    return [str(label) for label in labels or []]
