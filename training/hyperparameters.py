"""A run's settings: checked at launch and resolved there, every default filled in, so the stored
record alone says how the run was trained (pure; no Django, no torch).

Defaults follow what works for LoRA on instruction data (the QLoRA paper, axolotl's and
LLaMA-Factory's examples): r=16, alpha=32, dropout=0.05 on every linear layer; learning rate 2e-4
with a short warmup and cosine decay. Epochs, when not given, follow OpenAI's fine-tuning
heuristic: 3, more for tiny sets (so that about 100 examples are seen), fewer for huge ones.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from curation.errors import InvalidInput

LORA_DEFAULTS: dict[str, Any] = {"r": 16, "alpha": 32, "dropout": 0.05, "target_modules": "all-linear"}

HYPERPARAMETER_DEFAULTS: dict[str, Any] = {
    "epochs": None,  # from the train split's size, see default_epochs
    "learning_rate": 2e-4,
    "batch_size": 8,
    "gradient_accumulation_steps": 1,
    "max_seq_length": 1024,
    "warmup_ratio": 0.03,
    "weight_decay": 0.0,
    "max_grad_norm": 1.0,
    "eval_steps": None,  # about ten evaluations a run, at least one an epoch
    "early_stopping_patience": 3,
    "early_stopping_min_delta": 0.0,
    "checkpoint_steps": None,  # as eval_steps
    "logging_steps": None,  # about a hundred train-loss points a run
    "max_truncated_fraction": 0.05,
    "seed": 0,
}

# name: (type, lowest, highest); None = no bound.
_INT_LIMITS: dict[str, tuple[int, int | None]] = {
    "epochs": (1, 100),
    "batch_size": (1, 4096),
    "gradient_accumulation_steps": (1, 1024),
    "max_seq_length": (8, 1_048_576),
    "eval_steps": (1, None),
    "early_stopping_patience": (0, 1000),
    "checkpoint_steps": (1, None),
    "logging_steps": (1, None),
    "seed": (0, 2**32 - 1),
}
_FLOAT_LIMITS: dict[str, tuple[float, float]] = {
    "learning_rate": (1e-8, 1.0),
    "warmup_ratio": (0.0, 0.5),
    "weight_decay": (0.0, 1.0),
    "max_grad_norm": (0.0, 1e6),
    "early_stopping_min_delta": (0.0, 1e3),
    "max_truncated_fraction": (0.0, 1.0),
}

TARGET_EPOCHS = 3
MIN_TARGET_EXAMPLES = 100
MAX_TARGET_EXAMPLES = 25_000
MAX_DEFAULT_EPOCHS = 25
EVALS_PER_RUN = 10
LOG_POINTS_PER_RUN = 100


def default_epochs(train_count: int) -> int:
    """OpenAI's heuristic: 3 epochs, more when that would show the model under 100 examples,
    fewer when it would show it over 25,000."""
    if train_count * TARGET_EPOCHS < MIN_TARGET_EXAMPLES:
        return min(MAX_DEFAULT_EPOCHS, math.ceil(MIN_TARGET_EXAMPLES / max(train_count, 1)))
    if train_count * TARGET_EPOCHS > MAX_TARGET_EXAMPLES:
        return max(1, MAX_TARGET_EXAMPLES // train_count)
    return TARGET_EPOCHS


def lora_resolve(given: dict[str, Any] | None) -> dict[str, Any]:
    """The LoRA settings with defaults filled in; InvalidInput names any bad field."""
    values = _known(given or {}, LORA_DEFAULTS, "lora")
    _check_int(values, "r", 1, 1024, "lora")
    _check_number(values, "alpha", 1e-6, 1e6, "lora")
    _check_number(values, "dropout", 0.0, 0.9, "lora")
    targets = values["target_modules"]
    valid_list = isinstance(targets, list) and targets and all(isinstance(t, str) and t for t in targets)
    if targets != "all-linear" and not valid_list:
        raise InvalidInput(
            'lora.target_modules: give "all-linear" or a list of module names, such as ["q_proj", "v_proj"].',
            field="lora",
        )
    return values


@dataclass(frozen=True)
class Schedule:
    steps_per_epoch: int
    total_steps: int


def schedule(train_count: int, hyperparameters: dict[str, Any]) -> Schedule:
    """Optimizer steps for `train_count` examples under resolved hyperparameters."""
    per_step = hyperparameters["batch_size"] * hyperparameters["gradient_accumulation_steps"]
    steps_per_epoch = max(1, math.ceil(train_count / per_step))
    return Schedule(steps_per_epoch, steps_per_epoch * hyperparameters["epochs"])


def hyperparameters_resolve(given: dict[str, Any] | None, train_count: int) -> dict[str, Any]:
    """The hyperparameters with defaults filled in for a train split of `train_count` examples."""
    values = _known(given or {}, HYPERPARAMETER_DEFAULTS, "hyperparameters")
    for name, (low, high) in _INT_LIMITS.items():
        if values[name] is not None:
            _check_int(values, name, low, high, "hyperparameters")
    for name, (low_f, high_f) in _FLOAT_LIMITS.items():
        _check_number(values, name, low_f, high_f, "hyperparameters")
    if values["epochs"] is None:
        values["epochs"] = default_epochs(train_count)
    plan = schedule(train_count, values)
    if values["eval_steps"] is None:
        values["eval_steps"] = max(1, min(plan.steps_per_epoch, math.ceil(plan.total_steps / EVALS_PER_RUN)))
    if values["checkpoint_steps"] is None:
        values["checkpoint_steps"] = values["eval_steps"]
    if values["logging_steps"] is None:
        values["logging_steps"] = max(1, plan.total_steps // LOG_POINTS_PER_RUN)
    return values


def _known(given: Any, defaults: dict[str, Any], where: str) -> dict[str, Any]:
    if not isinstance(given, dict):
        raise InvalidInput(f"{where}: expected an object of settings.", field=where)
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        raise InvalidInput(
            f"{where}: unknown setting(s) {', '.join(unknown)}; known: {', '.join(defaults)}.", field=where
        )
    return {**defaults, **{name: value for name, value in given.items() if value is not None}}


def _check_int(values: dict[str, Any], name: str, low: int, high: int | None, where: str) -> None:
    value = values[name]
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"{where}.{name}: expected a whole number, got {value!r}.", field=where)
    if value < low or (high is not None and value > high):
        bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise InvalidInput(f"{where}.{name}: must be {bounds}; got {value}.", field=where)


def _check_number(values: dict[str, Any], name: str, low: float, high: float, where: str) -> None:
    value = values[name]
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidInput(f"{where}.{name}: expected a number, got {value!r}.", field=where)
    if not low <= value <= high:
        raise InvalidInput(f"{where}.{name}: must be between {low:g} and {high:g}; got {value}.", field=where)
    values[name] = float(value)
