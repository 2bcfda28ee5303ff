"""ONNX Runtime copies of a sentence-transformers model: a fast int8 copy for finding
candidates, and the same graph in fp32 for the model's own embeddings where torch is slow.

The model is exported to ONNX once, into a folder of the caller's choosing (nothing is
downloaded), and its weights quantized to int8 per output channel. One AVX-512 core embeds about
560 short texts a second with the int8 copy (batches of one token length), against about 365 for
the torch model in bfloat16, with a cosine to the fp32 embeddings of 0.991 on average and 0.968
at worst: callers let the model itself decide pairs near their threshold.
The fp32 export gives the model's own embeddings (within 3e-7 of sentence-transformers') at about
twice torch's speed on a dedup merge's small batches on AVX2 CPUs (`exact_available`).
Only models that mean-pool token embeddings (all-MiniLM-L6-v2 and most sentence-transformers
models) have ONNX copies; for others `available` is False.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import os
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from curation.dedup.embeddings import PADDING_SHARE, all_cores, length_batches, on_all_cores

MAX_TOKENS = 256
# Texts a lane from which a call on every core runs in lanes (`_lanes`).
LANE_TEXTS = 8
# The modules a model may have for its fp32 export to give its own embeddings: a Dense layer
# after the pooling, say, is not in the export.
EXACT_MODULES = {"Transformer", "Pooling", "Normalize"}


def available(model_path: str) -> bool:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    pooling = Path(model_path) / "1_Pooling" / "config.json"
    if not pooling.exists():
        return False
    config = json.loads(pooling.read_text())
    return bool(config.get("pooling_mode_mean_tokens")) and not any(
        config.get(key) for key in ("pooling_mode_cls_token", "pooling_mode_max_tokens")
    )


def exact_available(model_path: str) -> bool:
    """Whether the fp32 export gives the model's own embeddings: a mean-pooling model with no
    module beyond the transformer, the pooling and a normalization."""
    if not available(model_path):
        return False
    modules = Path(model_path) / "modules.json"
    if not modules.exists():
        return False
    kinds = {module["type"].rsplit(".", 1)[-1] for module in json.loads(modules.read_text())}
    return kinds <= EXACT_MODULES


def quantized_path(model_path: str, folder: Path) -> Path:
    """The int8 ONNX file for the model, made on first use from the fp32 export."""
    target = _copy_path(model_path, folder, "int8")
    if target.exists():
        return target
    exported = exported_path(model_path, folder)
    from onnxruntime.quantization import QuantType, quantize_dynamic

    def quantize(partial: Path) -> None:
        logging.disable(logging.WARNING)  # the quantizer logs a line per tensor to the root logger
        try:
            quantize_dynamic(str(exported), str(partial), weight_type=QuantType.QInt8, per_channel=True)
        finally:
            logging.disable(logging.NOTSET)

    return _made(target, quantize)


def exported_path(model_path: str, folder: Path) -> Path:
    """The fp32 ONNX file for the model, made on first use."""
    target = _copy_path(model_path, folder, "fp32")
    return target if target.exists() else _made(target, lambda partial: _export(model_path, partial))


def _copy_path(model_path: str, folder: Path, kind: str) -> Path:
    source = Path(model_path).resolve()
    digest = hashlib.sha256(str(source).encode()).hexdigest()[:12]  # one file per model folder
    return folder / f"{source.name}-{digest}-{kind}.onnx"


def _made(target: Path, make: Callable[[Path], None]) -> Path:
    """`target`, written by `make(partial)` under a temporary name and then renamed, so that two
    workers making it at once never read half a file."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.parent / f".{target.stem}-{os.getpid()}.onnx"
    make(partial)
    partial.replace(target)
    return target


def _export(model_path: str, destination: Path) -> None:
    import torch
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_path)
    model = AutoModel.from_pretrained(model_path).eval()

    class ByKeyword(torch.nn.Module):  # transformers' positional arguments change between versions
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            output = self.model(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            )
            return output.last_hidden_state

    sample = tokenizer(["a sample sentence"], return_tensors="pt")
    names = ["input_ids", "attention_mask", "token_type_ids"]
    with warnings.catch_warnings():  # the tracer's notes on shapes it treats as constants
        warnings.simplefilter("ignore")
        _trace(torch, ByKeyword(), sample, names, destination)


def _trace(torch: Any, module: Any, sample: Any, names: list[str], destination: Path) -> None:
    torch.onnx.export(
        module,
        tuple(sample[name] for name in names),
        str(destination),
        input_names=names,
        output_names=["last_hidden_state"],
        dynamic_axes={name: {0: "batch", 1: "tokens"} for name in [*names, "last_hidden_state"]},
        opset_version=17,
        dynamo=False,
    )


@lru_cache(maxsize=8)
def _session(model_path: str, folder: str, threads: int, exact: bool = False) -> tuple[Any, Any]:
    """An ONNX session of the int8 copy (`exact`: the fp32 export) running on `threads` threads
    (0: onnxruntime's default, every core). onnxruntime fixes a session's threads when it is
    made, so a worker holds one per count it uses: its own (FINCH_TORCH_THREADS, for chunks),
    every core (for a merge, all_cores) and one (the int8 copy's lanes: `_lanes`)."""
    import onnxruntime
    from transformers import AutoTokenizer

    options = onnxruntime.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    made = exported_path if exact else quantized_path
    session = onnxruntime.InferenceSession(
        str(made(model_path, Path(folder))), options, providers=["CPUExecutionProvider"]
    )
    # The Rust tokenizer itself: transformers' wrapper turns each text's encoding into Python
    # lists, 3x the tokenizer's own time on short texts (the same ids)
    tokenizer = copy.deepcopy(AutoTokenizer.from_pretrained(model_path).backend_tokenizer)
    tokenizer.enable_truncation(_max_tokens(model_path))
    tokenizer.no_padding()
    return session, tokenizer


def _max_tokens(model_path: str) -> int:
    """The model's own truncation (sentence-transformers' max_seq_length), else MAX_TOKENS."""
    config = Path(model_path) / "sentence_bert_config.json"
    configured = json.loads(config.read_text()).get("max_seq_length") if config.exists() else None
    return int(configured or MAX_TOKENS)


def _threads_now() -> int:
    """Every core inside all_cores(), else the worker's own count (0: every core)."""
    return (os.cpu_count() or 0) if on_all_cores() else int(os.environ.get("FINCH_TORCH_THREADS") or 0)


def preload(model_path: str, folder: Path, *, exact: bool = False) -> None:
    """Load, and run once, the sessions of the int8 copy (`exact`: the fp32 export) a worker
    uses: on its own threads, on every core (a merge: all_cores) and, with two cores or more,
    the lanes' session of one thread."""
    encode(["a text"], model_path, folder, exact=exact)
    with all_cores():
        encode(["a text"], model_path, folder, exact=exact)
    if (os.cpu_count() or 1) > 1:
        session, tokenizer = _session(model_path, str(folder), 1, exact)
        _run_session(session, [tokenizer.encode("a text").ids])


def session_loaded() -> bool:
    """Whether this process holds an int8 session already (loading one takes seconds)."""
    return _session.cache_info().currsize > 0


def encode(
    texts: list[str], model_path: str, folder: Path, *, exact: bool = False
) -> npt.NDArray[np.float32]:
    """Unit-length embeddings by the int8 copy (`exact`: by the fp32 export, the model's own),
    in the order of `texts`."""
    threads = _threads_now()
    session, tokenizer = _session(model_path, str(folder), threads, exact)
    # Texts with the same token ids (the tokenizer folds case and accents for uncased models)
    # have one vector: each distinct sequence runs once (4% of a dedup job's texts on the
    # embedding benchmark, where near-copies differ only in case).
    distinct: dict[tuple[int, ...], int] = {}  # each sequence's row among the distinct ones
    rows = [
        distinct.setdefault(tuple(encoding.ids), len(distinct))
        for encoding in tokenizer.encode_batch_fast(texts)
    ]
    tokens = [list(ids) for ids in distinct]
    lanes = _lanes(tokens, threads)
    if lanes > 1:
        return _run_lanes(_session(model_path, str(folder), 1, exact)[0], tokens, lanes)[rows]
    return _run_session(session, tokens)[rows]


def _lanes(tokens: list[list[int]], threads: int) -> int:
    """How many lanes of one thread embed `tokens`, where a session would use every core: one per
    core from LANE_TEXTS texts a lane, else 1 (one session on its threads). The graph's small
    operations (layer norms, GELU, softmax; batches of one token length are many and small)
    spread over a session's threads poorly. On two cores of a Zen 4 EPYC (the bench's messages,
    medians of five), lanes against one session of two threads: the int8 copy on AVX2 code 1.53
    against 2.0-2.2 ms a text in calls of 200-400 texts, 1.68 against 1.88 in calls of 16, even
    at 8 (1.95 / 1.93) and slower at 4 (2.36 / 1.99); with VNNI 0.97-1.13 against 1.0-1.24 at
    50-400 texts; the fp32 export on AVX2 code 2.5 against 3.3 ms a text at 350 texts."""
    cores = os.cpu_count() or 1
    if cores < 2 or threads not in (0, cores) or len(tokens) < LANE_TEXTS * cores:
        return 1
    return cores


def _run_lanes(session: Any, tokens: list[list[int]], lanes: int) -> npt.NDArray[np.float32]:
    """_run_session in `lanes` threads at once, each given every lanes-th sequence by length
    (the same lengths, so the same work); onnxruntime runs a session from several threads."""
    by_length = np.argsort([len(ids) for ids in tokens], kind="stable")
    shares = [by_length[lane::lanes] for lane in range(lanes)]
    with ThreadPoolExecutor(max_workers=lanes) as pool:
        parts = list(pool.map(lambda rows: _run_session(session, [tokens[row] for row in rows]), shares))
    vectors = np.zeros((len(tokens), parts[0].shape[1]), dtype=np.float32)
    for rows, part in zip(shares, parts, strict=True):
        vectors[rows] = part
    return vectors


def _run_session(session: Any, tokens: list[list[int]]) -> npt.NDArray[np.float32]:
    """Unit-length mean-pooled embeddings of the token sequences, in their order."""
    lengths = [len(ids) for ids in tokens]
    sizes = np.asarray(lengths)  # once, not per batch
    vectors = np.zeros((len(tokens), 0), dtype=np.float32)
    for rows in length_batches(lengths, padding=PADDING_SHARE):
        input_ids = np.zeros((len(rows), lengths[rows[-1]]), dtype=np.int64)  # rows[-1]: the longest
        for at, row in enumerate(rows.tolist()):
            input_ids[at, : lengths[row]] = tokens[row]
        mask = (np.arange(input_ids.shape[1]) < sizes[rows, None]).astype(np.int64)
        inputs = {"input_ids": input_ids, "attention_mask": mask, "token_type_ids": np.zeros_like(input_ids)}
        hidden = session.run(None, inputs)[0]
        pooled = (hidden * mask[..., None]).sum(axis=1) / np.maximum(mask.sum(axis=1, keepdims=True), 1)
        if vectors.shape[1] == 0:
            vectors = np.zeros((len(tokens), pooled.shape[1]), dtype=np.float32)
        vectors[rows] = pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
    return vectors
