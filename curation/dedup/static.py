"""Static embeddings distilled from the sentence-transformers model, for proposing candidates.

model2vec's distillation embeds every token of the model's vocabulary through the model once
(about 30,000 tokens: minutes on two cores), reduces them to 256 dimensions by PCA and weighs
them by token frequency; a text's static embedding is then the mean of its tokens' vectors, tens
of thousands of texts a second. Nothing is downloaded: the model is a local folder.
The distilled model is made once into a folder of the caller's choosing (a temporary name, then
a rename, like the int8 copy), by `manage.py prepare_models` or on first use.

A static cosine is only a rough guide to the model's (curation.dedup.candidates.descend finds how low to
search); the model itself decides every candidate.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import itertools
import logging
import os
import shutil
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from curation.dedup.embeddings import unit_rows

PCA_DIMS = 256
# Texts tokenized at once: the tokenizer's encodings and token ids of a block in memory, not a
# million texts' (model2vec's own encode went 1,024 at a time).
ENCODE_BLOCK = 10_000


def available() -> bool:
    try:
        import model2vec  # noqa: F401
        import usearch  # noqa: F401
    except ImportError:
        return False
    return True


def distilled_path(model_path: str, folder: Path) -> Path:
    """The distilled model's folder for the model, made on first use."""
    source = Path(model_path).resolve()
    digest = hashlib.sha256(f"{source}:{PCA_DIMS}".encode()).hexdigest()[:12]
    target = folder / f"{source.name}-{digest}-static"
    if (target / "model.safetensors").exists():
        return target
    folder.mkdir(parents=True, exist_ok=True)
    partial = folder / f".{target.name}-{os.getpid()}"
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from model2vec.distill import distill

    logging.disable(logging.WARNING)  # transformers' notes on the pooling layer it does not load
    try:
        with contextlib.redirect_stderr(io.StringIO()):  # model2vec's progress bar over the vocabulary
            distill(model_name=str(source), pca_dims=PCA_DIMS).save_pretrained(str(partial))
    finally:
        logging.disable(logging.NOTSET)
    try:
        partial.replace(target)
    except OSError:  # another worker made it meanwhile: theirs is as good
        shutil.rmtree(partial, ignore_errors=True)
    return target


@dataclass(frozen=True)
class _Static:
    """A distilled model as encode uses it: its tokenizer (truncating at the model's length) and
    one float32 row per token id (model2vec's token mapping and weights folded in)."""

    tokenizer: Any
    table: Any  # torch.Tensor: rows by token id
    unknown: int | None  # a token id that adds nothing (model2vec drops it)
    max_chars: int | None  # characters a text is cut to before tokenizing, as model2vec does


@lru_cache(maxsize=2)
def _model(model_path: str, folder: str) -> _Static:
    import torch
    from model2vec import StaticModel

    model = StaticModel.from_pretrained(str(distilled_path(model_path, Path(folder))))
    table = np.asarray(model.embedding, dtype=np.float32)  # float16 on disk
    if model.token_mapping is not None:
        table = table[model.token_mapping]
    if model.weights is not None:
        table = table * np.asarray(model.weights, dtype=np.float32)[:, None]
    if model.max_length:  # set once: encode never calls model2vec's own encode, which sets it each call
        model.tokenizer.enable_truncation(model.max_length)
    return _Static(
        tokenizer=model.tokenizer,
        table=torch.from_numpy(np.ascontiguousarray(table)),
        unknown=model.unk_token_id,
        max_chars=model.max_length * model.median_token_length if model.max_length else None,
    )


def encode(texts: list[str], model_path: str, folder: Path) -> npt.NDArray[np.float32]:
    """Unit-length static embeddings, in the order of `texts`: model2vec's (the mean of a text's
    token vectors), summed here by torch's embedding_bag in float32. model2vec's own encode took
    0.45-0.55 s for 20,000 short texts on two cores, this 0.3-0.35 s, nearly all of it the
    tokenizer: it averages in float16 in a thread pool, and set TOKENIZERS_PARALLELISM=false for
    the whole process to do so (every later tokenizer of a worker on one core)."""
    if not texts:
        return np.zeros((0, PCA_DIMS), dtype=np.float32)
    model = _model(model_path, str(folder))
    vectors = np.zeros((len(texts), model.table.shape[1]), dtype=np.float32)
    for start in range(0, len(texts), ENCODE_BLOCK):
        block = texts[start : start + ENCODE_BLOCK]
        vectors[start : start + len(block)] = _token_sums(model, block)
    return unit_rows(vectors)  # the mean's direction; a text of no tokens stays zero


def _token_sums(model: _Static, texts: list[str]) -> npt.NDArray[np.float32]:
    import torch

    encodings = model.tokenizer.encode_batch_fast(
        [text[: model.max_chars] for text in texts], add_special_tokens=False
    )
    ids = [encoding.ids for encoding in encodings]
    lengths = np.fromiter(map(len, ids), dtype=np.int64, count=len(ids))
    tokens = np.fromiter(itertools.chain.from_iterable(ids), dtype=np.int64, count=int(lengths.sum()))
    starts = np.zeros(len(ids), dtype=np.int64)
    np.cumsum(lengths[:-1], out=starts[1:])
    sums = torch.nn.functional.embedding_bag(
        torch.from_numpy(tokens),
        model.table,
        torch.from_numpy(starts),
        mode="sum",
        padding_idx=model.unknown,  # left out of the sum
    )
    return np.asarray(sums.numpy())
