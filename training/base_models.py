"""The base models the launch forms offer, and the settings each recommends: the one reader of
recommendations, for the forms (from the registry, training.registry) and for registration (from
a file).

A recommendation is `{"hyperparameters": {...}, "lora": {...}}`, checked when a model is
registered by the very rules a launch applies (training.hyperparameters), so a form never starts
from a setting a launch would refuse. A model folder may carry one as `finch.json`
(`{"recommended": {...}}`; for example the tiny model `manage.py make_tiny_model` writes, which
needs a far higher learning rate than LoRA's usual default), read when the folder is registered;
`manage.py import_base_model --recommend-json FILE` gives one instead. The training launch form
starts from the chosen model's recommended values for the fields it has.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from curation.errors import InvalidInput
from training.hyperparameters import hyperparameters_resolve, lora_resolve

SETTINGS_FILE = "finch.json"
SECTIONS = ("hyperparameters", "lora")
# What the launch form has fields for, by section; a recommendation may set any known setting.
FORM_FIELDS = {
    "hyperparameters": ("epochs", "learning_rate", "batch_size", "max_seq_length", "early_stopping_patience"),
    "lora": ("r", "alpha"),
}


def recommended_check(document: Any, where: str) -> dict[str, dict[str, Any]]:
    """The recommendation as given, once every setting in it passes a launch's checks;
    InvalidInput names `where` and the bad setting."""
    if not isinstance(document, dict):
        raise InvalidInput(f"{where}: expected an object with hyperparameters and lora.", field="recommended")
    unknown = sorted(set(document) - set(SECTIONS))
    if unknown:
        raise InvalidInput(
            f"{where}: unknown section(s) {', '.join(unknown)}; known: {', '.join(SECTIONS)}.",
            field="recommended",
        )
    checked = {section: document.get(section) or {} for section in SECTIONS}
    try:
        lora_resolve(checked["lora"])
        hyperparameters_resolve(checked["hyperparameters"], train_count=1)
    except InvalidInput as exc:
        raise InvalidInput(f"{where}: {exc.message}", field="recommended") from exc
    return {section: dict(values) for section, values in checked.items() if values}


def recommended_file(path: Path) -> dict[str, dict[str, Any]]:
    """A recommendation from a JSON file: finch.json's `{"recommended": {...}}`, or the
    recommendation alone."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidInput(f"{path}: cannot be read as JSON ({exc}).", field="recommended") from exc
    if isinstance(document, dict) and set(document) == {"recommended"}:
        document = document["recommended"]
    return recommended_check(document, str(path))


def recommended_write(folder: Path, *, hyperparameters: dict[str, Any], lora: dict[str, Any]) -> Path:
    """Write `finch.json` into a model folder: the settings that model trains well with."""
    path = folder / SETTINGS_FILE
    document = {"recommended": {"hyperparameters": hyperparameters, "lora": lora}}
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    return path


def recommended_rows(recommended: dict[str, Any]) -> list[tuple[str, list[tuple[str, Any]]]]:
    """A recommendation as pages show it: each section with its settings, the form's fields first
    in the form's order, then any other sorted (PostgreSQL's jsonb keeps no key order)."""
    rows = []
    for section in SECTIONS:
        values = recommended.get(section) or {}
        order = FORM_FIELDS[section]
        names = [name for name in order if name in values] + sorted(set(values) - set(order))
        if names:
            rows.append((section, [(name, values[name]) for name in names]))
    return rows


def form_settings(recommended: dict[str, Any]) -> dict[str, Any]:
    """A recommendation as the launch form's field names (`epochs`, `r`, ...) to values."""
    return {
        name: value
        for section, names in FORM_FIELDS.items()
        for name, value in (recommended.get(section) or {}).items()
        if name in names
    }


@dataclass(frozen=True)
class Offered:
    """A registered model as a launch form offers it."""

    name: str
    path: str
    settings: dict[str, Any]
    summary: str


def offered_models() -> list[Offered]:
    """The registered models, by name, each with its form settings and a one-line summary."""
    from training.registry import base_model_list, summary

    return [
        Offered(model.name, model.path, form_settings(model.recommended), summary(model))
        for model in base_model_list()
    ]


def recommendations(offered: list[Offered]) -> dict[str, dict[str, Any]]:
    """Each offered model's form settings by its name and by its path (what the page's script
    looks up as the field is filled in)."""
    found: dict[str, dict[str, Any]] = {}
    for model in offered:
        found[model.name] = found[model.path] = model.settings
    return found
