"""Settings resolved at launch: defaults filled in, epochs from the set's size, bad values named."""

from __future__ import annotations

import pytest

from curation.errors import InvalidInput
from training.hyperparameters import default_epochs, hyperparameters_resolve, lora_resolve


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
    assert None not in resolved.values()


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
