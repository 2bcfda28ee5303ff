"""The int8 ONNX copy of the embedding model (curation/dedup/int8.py): made once, close enough
to the model to propose candidates, and only for models it can reproduce."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.conf import settings
from django.core.management import call_command

from curation.dedup import int8
from curation.dedup.embeddings import default_model_path, encode

TEXTS = [
    "Where is my new card? It still has not arrived.",
    "How do I change the PIN of my card?",
    "What is the exchange rate for euros today?",
    "My card was stolen, please block it.",
    "I was charged twice for the same coffee this morning.",
    "Can I top up my account with a cheque?",
]


@pytest.fixture(scope="module")
def int8_vectors() -> np.ndarray:
    return int8.encode(TEXTS, default_model_path(), settings.FINCH_MODELS_DIR)


def test_int8_embeddings_stay_close_to_the_models_own(int8_vectors: np.ndarray) -> None:
    # Given the same texts embedded by the model and by its int8 copy
    reference = encode(TEXTS, default_model_path())

    # Then each int8 vector is unit length and within the margin dedup allows for
    assert np.allclose(np.linalg.norm(int8_vectors, axis=1), 1.0, atol=1e-4)
    cosines = np.einsum("ij,ij->i", int8_vectors, reference)
    assert cosines.min() >= 0.97
    # And the order of the input is kept (the encoder sorts by length internally)
    assert np.argmax(int8_vectors @ reference.T, axis=1).tolist() == list(range(len(TEXTS)))


def test_prepare_models_makes_the_copy_once_and_reports_where(
    int8_vectors: np.ndarray, settings: Any
) -> None:
    # Given the copy exists (the fixture made it), and int8 candidates on (the default, made explicit)
    settings.FINCH_EMBEDDING_INT8 = True
    made = int8.quantized_path(default_model_path(), settings.FINCH_MODELS_DIR)
    stamp = made.stat().st_mtime_ns

    # When the command runs
    output = StringIO()
    call_command("prepare_models", stdout=output)

    # Then it names that file and did not make it again; no temporary file is left behind
    assert str(made) in output.getvalue()
    assert made.stat().st_mtime_ns == stamp
    assert not [path for path in made.parent.iterdir() if path.name.startswith(".")]


@pytest.mark.parametrize(
    ("pooling", "expected"),
    [
        pytest.param({"pooling_mode_mean_tokens": True}, True, id="mean"),
        pytest.param({"pooling_mode_cls_token": True}, False, id="cls"),
        pytest.param(
            {"pooling_mode_mean_tokens": True, "pooling_mode_max_tokens": True}, False, id="mean+max"
        ),
        pytest.param(None, False, id="no pooling config"),
    ],
)
def test_only_mean_pooling_models_get_an_int8_copy(
    tmp_path: Path, pooling: dict | None, expected: bool
) -> None:
    if pooling is not None:
        (tmp_path / "1_Pooling").mkdir()
        (tmp_path / "1_Pooling" / "config.json").write_text(json.dumps(pooling))
    assert int8.available(str(tmp_path)) is expected
