"""A run's settings: checked at launch and resolved there, every default filled in, so the stored
record alone says how the run was trained (pure; no Django, no torch).

Defaults follow what works for LoRA on instruction data (the QLoRA paper, axolotl's and
LLaMA-Factory's examples): r=16, alpha=32, dropout=0.05 on every linear layer; learning rate 2e-4
with a short warmup and cosine decay. Epochs, when not given, follow OpenAI's fine-tuning
heuristic: 3, more for tiny sets (so that about 100 examples are seen), fewer for huge ones.
Memory and scale are off unless asked for: full-precision (bf16) weights, no gradient
checkpointing, fixed-size batches, and every GPU the worker may use (FINCH_GPU_COUNT, 1 by default).
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
    # Memory and scale (docs/training.md, "Memory and scale").
    "gradient_checkpointing": False,
    "quantization": "none",  # "nf4": QLoRA, the base in 4 bits (a CUDA GPU and bitsandbytes)
    "batching": "fixed",  # "token_budget": batches of similar lengths up to tokens_per_batch
    "tokens_per_batch": None,  # token_budget only: batch_size x max_seq_length when not given
    "gpus": "all",  # data parallel over this many of the worker's FINCH_GPU_COUNT GPUs
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
    "tokens_per_batch": (8, 2**31 - 1),
}
_FLOAT_LIMITS: dict[str, tuple[float, float]] = {
    "learning_rate": (1e-8, 1.0),
    "warmup_ratio": (0.0, 0.5),
    "weight_decay": (0.0, 1.0),
    "max_grad_norm": (0.0, 1e6),
    "early_stopping_min_delta": (0.0, 1e3),
    "max_truncated_fraction": (0.0, 1.0),
}

_CHOICES: dict[str, tuple[str, ...]] = {
    "quantization": ("none", "nf4"),
    "batching": ("fixed", "token_budget"),
}
MAX_GPUS = 64
# Filled in from the run's real batches on the worker when batching is token_budget (how many
# batches an epoch makes depends on the examples' lengths, known after tokenizing).
STEP_SETTINGS = ("eval_steps", "checkpoint_steps", "logging_steps")

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
    _check_scale(values)
    if values["epochs"] is None:
        values["epochs"] = default_epochs(train_count)
    if values["batching"] == "fixed":
        plan = schedule(train_count, values)
        step_defaults(values, plan.steps_per_epoch, plan.total_steps)
    return values


def step_defaults(values: dict[str, Any], steps_per_epoch: int, total_steps: int) -> dict[str, Any]:
    """Fill in eval, checkpoint and logging intervals not given, for a run of `total_steps`."""
    if values["eval_steps"] is None:
        values["eval_steps"] = max(1, min(steps_per_epoch, math.ceil(total_steps / EVALS_PER_RUN)))
    if values["checkpoint_steps"] is None:
        values["checkpoint_steps"] = values["eval_steps"]
    if values["logging_steps"] is None:
        values["logging_steps"] = max(1, total_steps // LOG_POINTS_PER_RUN)
    return values


def _check_scale(values: dict[str, Any]) -> None:
    """The memory and scale settings: choices, a flag, a GPU count, a token budget that holds the
    longest example allowed."""
    for name, choices in _CHOICES.items():
        if values[name] not in choices:
            raise InvalidInput(
                f"hyperparameters.{name}: one of {', '.join(choices)}; got {values[name]!r}.",
                field="hyperparameters",
            )
    if not isinstance(values["gradient_checkpointing"], bool):
        raise InvalidInput("hyperparameters.gradient_checkpointing: true or false.", field="hyperparameters")
    gpus = values["gpus"]
    if gpus != "all" and (isinstance(gpus, bool) or not isinstance(gpus, int) or not 1 <= gpus <= MAX_GPUS):
        raise InvalidInput(
            f'hyperparameters.gpus: "all" (the worker\'s FINCH_GPU_COUNT) or a number from 1 to {MAX_GPUS}; '
            f"got {gpus!r}.",
            field="hyperparameters",
        )
    if values["batching"] == "fixed":
        if values["tokens_per_batch"] is not None:
            raise InvalidInput(
                'hyperparameters.tokens_per_batch: applies only with batching "token_budget".',
                field="hyperparameters",
            )
        return
    if values["tokens_per_batch"] is None:
        values["tokens_per_batch"] = values["batch_size"] * values["max_seq_length"]
    if values["tokens_per_batch"] < values["max_seq_length"]:
        raise InvalidInput(
            f"hyperparameters.tokens_per_batch: must be at least max_seq_length ({values['max_seq_length']}) "
            f"so that the longest example fits a batch; got {values['tokens_per_batch']}.",
            field="hyperparameters",
        )


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
