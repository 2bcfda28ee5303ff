"""The int8 ONNX copy of the embedding model (curation/dedup/int8.py): made once, close enough
to the model to propose candidates, and only for models it can reproduce."""

from __future__ import annotations

import json
import os
import threading
from io import StringIO
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from celery.signals import worker_process_init
from django.conf import settings
from django.core.management import call_command

from curation.dedup import embeddings, int8, static
from curation.dedup.embeddings import all_cores, default_model_path, encode, worker_threads
from curation.services import embedding_cache

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


def test_prepare_models_makes_the_copies_once_and_reports_where(
    int8_vectors: np.ndarray, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the copies exist (the fixture made them), int8 candidates on (the default, made
    # explicit), on a CPU without native bfloat16 (where the fp32 export embeds for the model)
    settings.FINCH_EMBEDDING_INT8 = True
    monkeypatch.setattr(embedding_cache, "native_bfloat16", lambda: False)
    made = [
        int8.quantized_path(default_model_path(), settings.FINCH_MODELS_DIR),
        int8.exported_path(default_model_path(), settings.FINCH_MODELS_DIR),
    ]
    stamps = [path.stat().st_mtime_ns for path in made]

    # When the command runs
    output = StringIO()
    call_command("prepare_models", stdout=output)

    # Then it names those files and did not make them again; no temporary file is left behind
    assert all(str(path) in output.getvalue() for path in made)
    assert [path.stat().st_mtime_ns for path in made] == stamps
    assert not [path for path in made[0].parent.iterdir() if path.name.startswith(".")]


def test_the_fp32_export_gives_the_models_own_embeddings() -> None:
    # Given the same texts embedded by the model in torch (fp32) and by its fp32 ONNX export
    reference = encode(TEXTS, default_model_path(), fp32=True)
    exported = int8.encode(TEXTS, default_model_path(), settings.FINCH_MODELS_DIR, exact=True)

    # Then they are the same vectors, in the same order (a cache may hold either)
    assert np.abs(exported - reference).max() < 1e-5


@pytest.mark.parametrize("exact", [False, True])
def test_texts_the_tokenizer_makes_the_same_ids_of_run_once_and_share_their_vector(
    exact: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given texts of which some differ only in case or accents (the uncased model's tokenizer
    # folds both), the rows sent to the session recorded
    texts = ["Where is my card?", "WHERE IS MY CARD?", "Refund please", "where is my card?", "Réfund please"]
    sent: list[int] = []
    real_run = int8._run_session

    def recording_run(session: Any, tokens: list[list[int]]) -> np.ndarray:
        sent.append(len(tokens))
        return real_run(session, tokens)

    monkeypatch.setattr(int8, "_run_session", recording_run)

    # When they are embedded
    vectors = int8.encode(texts, default_model_path(), settings.FINCH_MODELS_DIR, exact=exact)

    # Then two sequences ran, and each text has its sequence's vector, in the order given
    assert sent == [2]
    assert np.array_equal(vectors[[0, 1, 3]], vectors[[0, 0, 0]]) and np.array_equal(vectors[4], vectors[2])
    alone = int8.encode(
        ["Refund please", "Where is my card?"], default_model_path(), settings.FINCH_MODELS_DIR, exact=exact
    )
    assert np.abs(vectors[[2, 0]] - alone).max() < 1e-6


@pytest.mark.parametrize("native", [True, False])
def test_the_model_embeds_by_its_export_only_where_bfloat16_is_not_native(
    monkeypatch: pytest.MonkeyPatch, native: bool
) -> None:
    # Given a CPU with (or without) native bfloat16
    monkeypatch.setattr(embedding_cache, "native_bfloat16", lambda: native)
    used: list[str] = []

    def by_torch(texts: list[str], path: str) -> np.ndarray:
        used.append("torch")
        return np.zeros((1, 1))

    def by_onnx(texts: list[str], path: str, folder: Path, exact: bool = False) -> np.ndarray:
        used.append(f"export {exact}")
        return np.zeros((1, 1))

    monkeypatch.setattr(embeddings, "encode", by_torch)
    monkeypatch.setattr(int8, "encode", by_onnx)

    # When the cache's model embeds a text
    embedding_cache.encode(["a text"], default_model_path())

    # Then torch embeds it where bfloat16 is native (faster there), else the fp32 export
    assert used == (["torch"] if native else ["export True"])


def test_a_model_with_a_module_the_export_lacks_embeds_in_torch(tmp_path: Path) -> None:
    # Given a mean-pooling model with a Dense layer after its pooling (not in the ONNX export)
    (tmp_path / "1_Pooling").mkdir()
    (tmp_path / "1_Pooling" / "config.json").write_text(json.dumps({"pooling_mode_mean_tokens": True}))
    modules = ["Transformer", "Pooling", "Dense", "Normalize"]
    listed = [{"type": f"sentence_transformers.models.{kind}"} for kind in modules]
    without_dense = [module for module in listed if not module["type"].endswith("Dense")]
    (tmp_path / "modules.json").write_text(json.dumps(listed))

    # Then it has an int8 copy (candidates only: the model decides) but no exact export
    assert int8.available(str(tmp_path)) and not int8.exact_available(str(tmp_path))
    (tmp_path / "modules.json").write_text(json.dumps(without_dense))
    assert int8.exact_available(str(tmp_path))


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


@pytest.mark.parametrize("exact", [False, True])
def test_a_merge_on_all_cores_encodes_on_every_core_though_the_worker_runs_on_one(
    exact: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a worker whose chunks run on one thread each (FINCH_TORCH_THREADS=1) on 2 cores
    # (torch's own count is settled first, once per process: this test must not change it)
    worker_threads()
    monkeypatch.setenv("FINCH_TORCH_THREADS", "1")
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    sessions, running = _watch_sessions(monkeypatch)

    # When it encodes outside all_cores(), then inside
    int8.encode(TEXTS, default_model_path(), settings.FINCH_MODELS_DIR, exact=exact)
    with all_cores():
        inside = int8.encode(TEXTS, default_model_path(), settings.FINCH_MODELS_DIR, exact=exact)

    # Then the first ran on a session of one thread, the second on one of every core, here:
    # too few texts for lanes
    assert sessions == [1, 2]
    assert running == {threading.get_ident()}
    # And the vectors are the same whichever session made them
    reference = int8.encode(TEXTS, default_model_path(), settings.FINCH_MODELS_DIR, exact=exact)
    assert np.allclose(inside, reference, atol=1e-5)


@pytest.mark.parametrize("exact", [False, True])
def test_a_call_on_every_core_embeds_many_texts_in_a_lane_of_one_thread_per_core(
    exact: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a worker whose own sessions run on every core (FINCH_TORCH_THREADS unset) of 2, and
    # more texts than lanes start from
    worker_threads()
    monkeypatch.delenv("FINCH_TORCH_THREADS", raising=False)
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    texts = [f"{text} ({number})" for number in range(12) for text in TEXTS]
    assert len(texts) >= 2 * int8.LANE_TEXTS
    sessions, running = _watch_sessions(monkeypatch)

    # When the int8 copy (or the fp32 export) encodes them on every core
    with all_cores():
        inside = int8.encode(texts, default_model_path(), settings.FINCH_MODELS_DIR, exact=exact)

    # Then they ran in two lanes (threads other than this one) on a session of one thread
    assert sessions == [2, 1]
    assert len(running) == 2 and threading.get_ident() not in running
    # And each text has its vector, in order (the int8 copy's within its rounding: it scales
    # activations per batch, and lanes batch differently)
    reference = int8.encode(texts, default_model_path(), settings.FINCH_MODELS_DIR, exact=exact)
    assert np.einsum("ij,ij->i", inside, reference).min() > (1 - 1e-6 if exact else 0.97)


def _watch_sessions(monkeypatch: pytest.MonkeyPatch) -> tuple[list[int], set[int]]:
    """The thread count of each session int8.encode takes, and the threads that run sessions."""
    original_session, original_run = int8._session, int8._run_session
    sessions: list[int] = []
    running: set[int] = set()

    def session(model_path: str, folder: str, threads: int, exact: bool = False) -> Any:
        made = original_session(model_path, folder, threads, exact)
        sessions.append(made[0].get_session_options().intra_op_num_threads)
        return made

    def run(session: Any, tokens: list[list[int]]) -> np.ndarray:
        running.add(threading.get_ident())
        return original_run(session, tokens)

    monkeypatch.setattr(int8, "_session", session)
    monkeypatch.setattr(int8, "_run_session", run)
    return sessions, running


def test_a_worker_process_loads_the_embedding_models_as_it_starts_where_asked(settings: Any) -> None:
    # Given a process holding no embedding model, with preloading on and static candidates on
    settings.FINCH_PRELOAD_EMBEDDING_MODELS, settings.FINCH_EMBEDDING_STATIC = True, True
    settings.FINCH_EMBEDDING_INT8 = True
    for cached in (embeddings._model, int8._session, static._model):
        cached.cache_clear()

    # When the worker process starts (Celery's worker_process_init)
    worker_process_init.send(sender=None)

    # Then the model (in torch, or where its fp32 export embeds for it, as many sessions as the
    # int8 copy), the int8 copy's sessions (the worker's threads, every core, and one thread for
    # lanes where there are two cores or more) and the static copy are loaded
    by_export = embedding_cache.model_by_export(default_model_path())
    assert by_export or embeddings.model_loaded()
    own, cores = int(os.environ.get("FINCH_TORCH_THREADS") or 0), os.cpu_count() or 1
    int8_sessions = len({own, cores} | ({1} if cores > 1 else set()))
    assert int8._session.cache_info().currsize == int8_sessions * (2 if by_export else 1)
    assert static._model.cache_info().currsize == 1


def test_without_the_setting_a_worker_process_starts_without_them(settings: Any) -> None:
    settings.FINCH_PRELOAD_EMBEDDING_MODELS = False
    embeddings._model.cache_clear()
    worker_process_init.send(sender=None)
    assert not embeddings.model_loaded()
