"""Static embeddings distilled from the sentence-transformers model, for proposing candidates.

model2vec's distillation embeds every token of the model's vocabulary through the model once
(about 30,000 tokens: minutes on two cores), reduces them to 256 dimensions by PCA and weighs
them by token frequency; a text's static embedding is then the mean of its tokens' vectors, tens
of thousands of texts a second on one core. Nothing is downloaded: the model is a local folder.
The distilled model is made once into a folder of the caller's choosing (a temporary name, then
a rename, like the int8 copy), by `manage.py prepare_models` or on first use.

A static cosine is only a rough guide to the model's (curation.dedup.candidates.descend finds how low to
search); the model itself decides every candidate.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import os
import shutil
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from curation.dedup.embeddings import unit_rows

PCA_DIMS = 256


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


@lru_cache(maxsize=2)
def _model(model_path: str, folder: str) -> Any:
    from model2vec import StaticModel

    return StaticModel.from_pretrained(str(distilled_path(model_path, Path(folder))))


def encode(texts: list[str], model_path: str, folder: Path) -> npt.NDArray[np.float32]:
    """Unit-length static embeddings, in the order of `texts`."""
    if not texts:
        return np.zeros((0, PCA_DIMS), dtype=np.float32)
    # model2vec tokenizes more than 10,000 texts in a thread pool, and to do so sets
    # TOKENIZERS_PARALLELISM=false for the whole process: every tokenizer of a worker ran on one
    # core from its first such job on (the int8 copy's 1.7x slower). It is put back as it was.
    before = os.environ.get("TOKENIZERS_PARALLELISM")
    try:
        vectors = np.asarray(
            _model(model_path, str(folder)).encode(texts, show_progress_bar=False), np.float32
        )
    finally:
        if before is None:
            os.environ.pop("TOKENIZERS_PARALLELISM", None)
        else:
            os.environ["TOKENIZERS_PARALLELISM"] = before
    return unit_rows(vectors)
