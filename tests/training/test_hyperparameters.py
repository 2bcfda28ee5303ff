"""Settings resolved at launch: defaults filled in, epochs from the set's size, bad values named."""

from __future__ import annotations

import pytest

from curation.errors import InvalidInput
from training.hyperparameters import (
    STEP_SETTINGS,
    default_epochs,
    hyperparameters_resolve,
    lora_resolve,
    step_defaults,
)


@pytest.mark.parametrize(
    ("train_count", "epochs"),
    [(1, 25), (10, 10), (20, 5), (33, 4), (34, 3), (1000, 3), (8333, 3), (8334, 2), (30_000, 1)],
)
def test_default_epochs_follow_the_openai_heuristic(train_count: int, epochs: int) -> None:
    assert default_epochs(train_count) == epochs


def test_every_default_is_filled_in() -> None:
    resolved = hyperparameters_resolve({}, train_count=1000)
    assert resolved["epochs"] == 3
    assert resolved["learning_rate"] == 2e-4
    assert resolved["eval_steps"] == 38  # 125 steps an epoch, 375 in all, ten evaluations
    assert resolved["checkpoint_steps"] == 38
    assert resolved["logging_steps"] == 3
    assert (resolved["gradient_checkpointing"], resolved["quantization"]) == (False, "none")
    assert (resolved["batching"], resolved["gpus"]) == ("fixed", "all")
    # Only the token budget stays empty: it applies to token_budget batching alone.
    assert [name for name, value in resolved.items() if value is None] == ["tokens_per_batch"]


def test_given_values_win() -> None:
    resolved = hyperparameters_resolve({"epochs": 2, "batch_size": 4, "eval_steps": 7}, train_count=1000)
    assert (resolved["epochs"], resolved["batch_size"], resolved["eval_steps"]) == (2, 4, 7)


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"epochs": 0}, "hyperparameters.epochs: must be between 1 and 100; got 0"),
        ({"epochs": "3"}, "hyperparameters.epochs: expected a whole number"),
        ({"learning_rate": -1}, "hyperparameters.learning_rate: must be between"),
        ({"learning_rate": float("nan")}, "expected a number"),
        ({"batch_size": True}, "batch_size: expected a whole number"),
        ({"epoch": 3}, "unknown setting(s) epoch"),
        ({"quantization": "int8"}, "hyperparameters.quantization: one of none, nf4; got 'int8'"),
        ({"batching": "packed"}, "hyperparameters.batching: one of fixed, token_budget"),
        ({"gradient_checkpointing": "yes"}, "gradient_checkpointing: true or false"),
        ({"gpus": 0}, 'hyperparameters.gpus: "all"'),
        ({"gpus": "two"}, "or a number from 1 to 64; got 'two'"),
        ({"tokens_per_batch": 4096}, 'tokens_per_batch: applies only with batching "token_budget"'),
        (
            {"batching": "token_budget", "tokens_per_batch": 512},
            "tokens_per_batch: must be at least max_seq_length (1024)",
        ),
    ],
)
def test_bad_hyperparameters_are_named(given: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        hyperparameters_resolve(given, train_count=100)
    assert message in raised.value.message


def test_lora_defaults_and_errors() -> None:
    assert lora_resolve(None) == {"r": 16, "alpha": 32, "dropout": 0.05, "target_modules": "all-linear"}
    assert lora_resolve({"r": 8, "target_modules": ["q_proj", "v_proj"]})["target_modules"] == [
        "q_proj",
        "v_proj",
    ]
    with pytest.raises(InvalidInput, match=r"lora\.r: must be between 1 and 1024"):
        lora_resolve({"r": 0})
    with pytest.raises(InvalidInput, match="target_modules"):
        lora_resolve({"target_modules": "attention"})
    with pytest.raises(InvalidInput, match="expected an object"):
        lora_resolve(["r"])  # type: ignore[arg-type]


def test_token_budget_defaults_and_step_settings_left_to_the_worker() -> None:
    resolved = hyperparameters_resolve({"batching": "token_budget", "batch_size": 4}, train_count=1000)
    assert resolved["tokens_per_batch"] == 4 * 1024  # the most a fixed batch of 4 could hold
    # How many batches an epoch makes depends on the lengths: the worker fills these in.
    assert [resolved[name] for name in STEP_SETTINGS] == [None, None, None]
    step_defaults(resolved, steps_per_epoch=40, total_steps=120)
    assert (resolved["eval_steps"], resolved["checkpoint_steps"], resolved["logging_steps"]) == (12, 12, 1)


def test_memory_and_scale_settings_are_kept() -> None:
    given = {"gradient_checkpointing": True, "quantization": "nf4", "gpus": 2}
    resolved = hyperparameters_resolve(given, train_count=100)
    assert {name: resolved[name] for name in given} == given
