"""The base models offered in the launch forms, and the training settings a model recommends.

A model folder under FINCH_BASE_MODELS_DIR may carry `finch.json`:
`{"recommended": {"hyperparameters": {...}, "lora": {...}}}` (for example the tiny model
`manage.py make_tiny_model` writes, which needs a far higher learning rate than LoRA's usual
default). The training launch form starts from those values. A later registry of base models
replaces this folder scan; this module is its one reader.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any

from django.conf import settings

log = logging.getLogger(__name__)

SETTINGS_FILE = "finch.json"
# What a recommendation may set: the launch form's fields, by section.
RECOMMENDABLE = {
    "hyperparameters": ("epochs", "learning_rate", "batch_size", "max_seq_length", "early_stopping_patience"),
    "lora": ("r", "alpha"),
}


def base_model_suggestions() -> list[str]:
    """Model folders under FINCH_BASE_MODELS_DIR (those with a config.json), sorted."""
    root = Path(settings.FINCH_BASE_MODELS_DIR)
    if not root.is_dir():
        return []
    return sorted(str(config.parent) for config in root.glob("*/config.json"))


def recommended_settings(folder: Path | str) -> dict[str, Any]:
    """A model folder's recommended launch settings, as the form's field names (`epochs`, `r`, ...)
    to numbers; empty when it recommends none. A malformed file is logged and ignored: it must not
    stop the form from opening."""
    path = Path(folder) / SETTINGS_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
        recommended = data.get("recommended", {}) if isinstance(data, dict) else {}
        return {
            name: value
            for section, names in RECOMMENDABLE.items()
            for name, value in (recommended.get(section) or {}).items()
            if name in names and _is_number(value)
        }
    except (OSError, ValueError, AttributeError) as exc:
        log.warning("ignoring %s: %s", path, exc)
        return {}


def recommended_write(folder: Path, *, hyperparameters: dict[str, Any], lora: dict[str, Any]) -> Path:
    """Write `finch.json` into a model folder: the settings that model trains well with."""
    path = folder / SETTINGS_FILE
    document = {"recommended": {"hyperparameters": hyperparameters, "lora": lora}}
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    return path


def base_model_choices() -> dict[str, dict[str, Any]]:
    """Each offered model's path to its recommended settings (empty for none)."""
    return {path: recommended_settings(path) for path in base_model_suggestions()}


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
