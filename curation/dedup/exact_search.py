"""Exact searches by matrix products: each row's nearest rows (static candidates), or every
pair at a floor (the model's own vectors).

The vectors (unit length) are multiplied only to the right of the diagonal (each pair once):
where the CPU has AMX, by torch in bfloat16 tiles (`_Bfloat16Tiles`); elsewhere scaled by one
factor into int8 and multiplied a block of rows at a time by onnxruntime's MatMulInteger (its
MLAS kernels: AVX2's byte products, VNNI's where the CPU has them). A compiled scan reads each
block as it comes for the pairs at the floor or above; `nearest_pairs` offers them to both
their rows' lists of their `neighbours` best, so nothing but the lists (12 bytes a neighbour)
outlives a block, and `pairs_at_least` keeps them all.

On the embedding benchmark's 19,800 messages (static vectors: 256 dimensions, 16 neighbours) on
two cores of a Zen 4 EPYC, on AVX2 code: products 0.29-0.4 s and the scans 0.1-0.12 s, against
0.96 s for the HNSW index (usearch, int8) and 1.7 s for float32 products by torch; with VNNI the
products take 0.16-0.22 s, against 1.1-1.2 s for torch's bfloat16 products and top-k (no AMX).
On a Xeon's two cores with AMX the int8 products take 0.54 s, the bfloat16 tiles 0.07 s.
Scaled by one factor, a pair's int8 similarity is within 0.0083 of the float32 one (200,000
pairs of those messages, sd 0.0017), a bfloat16 one within 0.0023 (sd 0.0003): a search keeps
pairs from the floor less SLACK, and callers decide by the float32 cosine. Memory: the vectors
twice (int8: 512 bytes a text at 256 dimensions, bfloat16 1,024), a block (int8 64 MB, a tile
8 MB) and the lists: 42 MB at 60,000 texts besides.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Protocol

import numba
import numpy as np
import numpy.typing as npt

SLACK = 0.01
# Without VNNI, MLAS multiplies bytes by AVX2's vpmaddubsw, which adds each two neighbouring
# products into 16 bits and saturates past 32,767: two dimensions near the largest value (255
# x 127 each) lose most of a product, and alike rows fall under the floor (a text's static
# vector dominated by one word can be such). There the right operand is scaled into 7 bits
# (2 x 255 x 63 fits): a pair's similarity then strays up to 0.0127 (0.008 in 8 bits; the
# embedding benchmark's static vectors, 202,000 pairs), so the search keeps pairs from the
# floor less REDUCED_SLACK.
REDUCED_SLACK = 0.015
# Similarities a block holds at most (4 bytes each: 64 MB; 2**22 to 2**25 ran alike on AVX2
# code); rows a block as many as fit, columns all those right of its first row.
BLOCK_CELLS = 2**24
# Rows and columns of a bfloat16 tile: on a Xeon's two cores with AMX the 19,800 x 19,800 upper
# triangle took 0.067 s in tiles of 2,048 (1,024: 0.074 s, 4,096: 0.2 s) against 0.12 s in
# blocks of rows of one new shape each (0.2 s for each new count of rows) and 0.54 s for int8.
TILE = 2048
CHUNK = 64  # columns tested at once for any similarity at the floor (most chunks have none)
Pairs = npt.NDArray[np.int64]


def nearest_pairs(vectors: npt.NDArray[np.float32], neighbours: int, floor: float) -> Pairs:
    """Row pairs (lower row first, each once) where one row is among the other's `neighbours`
    most similar rows with a similarity of `floor` - SLACK or more, by the products."""
    products = _products_of(vectors, floor)
    if products is None or neighbours < 1:
        return np.zeros((0, 2), dtype=np.int64)
    count = len(vectors)
    keys = np.full((count, neighbours), -1, dtype=np.int64)
    best = np.full((count, neighbours), products.limit - 1, dtype=np.int32)
    for first_row, first_column, block in products.blocks():
        near, similar = _block_pairs(block, first_row, first_column, products.limit)
        _offer_pairs(near, similar, keys, best)
    found = keys >= 0
    rows, near = np.broadcast_to(np.arange(count)[:, None], keys.shape)[found], keys[found]
    return distinct(np.stack([np.minimum(rows, near), np.maximum(rows, near)], axis=1), count)


def pairs_at_least(vectors: npt.NDArray[np.float32], floor: float) -> Pairs:
    """Every row pair (lower row first, each once) with a similarity of `floor` - SLACK or more
    by the products."""
    products = _products_of(vectors, floor)
    if products is None:
        return np.zeros((0, 2), dtype=np.int64)
    found = [
        _block_pairs(block, first_row, first_column, products.limit)[0]
        for first_row, first_column, block in products.blocks()
    ]
    return np.concatenate(found)


def distinct(pairs: Pairs, rows: int) -> Pairs:
    """Pairs (lower row first) once each, sorted (one int64 key a pair: numpy's unique by rows
    is 8x slower)."""
    keys = np.unique(pairs[:, 0] * np.int64(rows) + pairs[:, 1])
    return np.stack([keys // rows, keys % rows], axis=1)


# A block of products: its first row, its first column, and the products (integers that order
# as the similarities do); only the cells right of the diagonal count.
Block = tuple[int, int, npt.NDArray[np.integer[Any]]]


class _Products(Protocol):
    @property
    def limit(self) -> int:
        """The floor less SLACK in the products' units."""

    def blocks(self) -> Iterator[Block]: ...


def _products_of(vectors: npt.NDArray[np.float32], floor: float) -> _Products | None:
    """The products of `vectors` with themselves, by AMX's bfloat16 tiles where the CPU has them,
    else by int8 products; None where no pair can be found: fewer than two rows, or only zero
    vectors."""
    if len(vectors) < 2 or not vectors.any():
        return None
    if floor - SLACK > 0 and amx_available():
        return _Bfloat16Tiles.of(vectors, floor)
    return _Quantized.of(vectors, floor)


@lru_cache(maxsize=1)
def vnni_available() -> bool:
    """Whether MLAS multiplies bytes by VNNI on this CPU, summing into 32 bits without
    saturating (torch asks CPUID as MLAS does)."""
    import torch

    return bool(getattr(torch.cpu, "_is_vnni_supported", lambda: False)())


@lru_cache(maxsize=1)
def amx_available() -> bool:
    """Whether torch multiplies bfloat16 matrices by AMX tiles on this CPU."""
    import torch

    return bool(getattr(torch.cpu, "_is_amx_tile_supported", lambda: False)())


@dataclass(frozen=True)
class _Quantized:
    """Unit vectors scaled by one factor into int8, as MatMulInteger takes them, multiplied a
    block of rows at a time with every row from the block's first on."""

    left: npt.NDArray[np.uint8]  # the rows less 128 (MatMulInteger's zero point)
    right: npt.NDArray[np.int8]  # the rows transposed
    limit: int

    @classmethod
    def of(cls, vectors: npt.NDArray[np.float32], floor: float) -> _Quantized:
        largest = float(np.abs(vectors).max())
        exact = vnni_available()
        left_scale, right_scale = 127 / largest, (127 if exact else 63) / largest
        slack = SLACK if exact else REDUCED_SLACK
        return cls(
            left=(np.rint(vectors * left_scale).astype(np.int16) + 128).astype(np.uint8),
            right=np.ascontiguousarray(np.rint(vectors * right_scale).astype(np.int8).T),
            limit=int(np.floor((floor - slack) * left_scale * right_scale)),
        )

    def blocks(self) -> Iterator[Block]:
        count = len(self.left)
        session = _products(os.cpu_count() or 1)
        start = 0
        while start < count:
            end = min(count, start + max(1, BLOCK_CELLS // (count - start)))
            inputs = {"left": self.left[start:end], "right": self.right[:, start:]}
            yield start, start, session.run(None, inputs)[0]
            start = end


@dataclass(frozen=True)
class _Bfloat16Tiles:
    """Unit vectors in bfloat16 multiplied by torch in square tiles on and right of the
    diagonal (oneDNN's AMX kernels; tiles of one shape, so its kernels are made once). The
    products come as bfloat16, read as int16: for positive values their bits order as the
    values do, so the scan compares them with the floor's bits (rounded down)."""

    rows: Any  # torch.Tensor (count, dimensions), bfloat16
    columns: Any  # its transpose, contiguous
    limit: int

    @classmethod
    def of(cls, vectors: npt.NDArray[np.float32], floor: float) -> _Bfloat16Tiles:
        import torch

        rows = torch.from_numpy(np.ascontiguousarray(vectors, dtype=np.float32)).bfloat16()
        lowest = np.array([floor - SLACK], dtype=np.float32).view(np.int32)[0] >> 16  # truncated
        return cls(rows=rows, columns=rows.T.contiguous(), limit=int(lowest))

    def blocks(self) -> Iterator[Block]:
        import torch

        count, threads = len(self.rows), torch.get_num_threads()
        torch.set_num_threads(os.cpu_count() or threads)
        try:
            for first_row in range(0, count, TILE):
                left = self.rows[first_row : first_row + TILE]
                for first_column in range(first_row, count, TILE):
                    tile = torch.mm(left, self.columns[:, first_column : first_column + TILE])
                    yield first_row, first_column, tile.view(torch.int16).numpy()
        finally:
            torch.set_num_threads(threads)


@lru_cache
def _products(threads: int) -> Any:
    """A session multiplying a uint8 matrix (zero point 128) by an int8 one into int32."""
    import onnxruntime
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("MatMulInteger", ["left", "right", "zero"], ["products"])],
        "products",
        [
            helper.make_tensor_value_info("left", TensorProto.UINT8, [None, None]),
            helper.make_tensor_value_info("right", TensorProto.INT8, [None, None]),
        ],
        [helper.make_tensor_value_info("products", TensorProto.INT32, [None, None])],
        [helper.make_tensor("zero", TensorProto.UINT8, [], [128])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8  # what onnxruntime releases since 1.15 read
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    return onnxruntime.InferenceSession(
        model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )


@numba.njit(cache=True)
def _block_pairs(products, first_row, first_column, limit):  # pragma: no cover
    """The pairs of a block (rows first_row.., columns first_column..; only column > row) at
    `limit` or more, and their products: counted by a first scan, written by a second."""
    limit = np.int32(limit)
    empty_pairs, empty_found = np.empty((0, 2), dtype=np.int64), np.empty(0, dtype=np.int32)
    count = _scan(products, first_row, first_column, limit, empty_pairs, empty_found)
    pairs, found = np.empty((count, 2), dtype=np.int64), np.empty(count, dtype=np.int32)
    _scan(products, first_row, first_column, limit, pairs, found)
    return pairs, found


@numba.njit(cache=True)
def _scan(products, first_row, first_column, limit, pairs, found):  # pragma: no cover
    """How many pairs of the block reach `limit`, written into `pairs` and `found` where they
    have room. Whole chunks are tested first, in a loop of a fixed count, which the compiler
    vectorizes (for AVX-512 too: 3-6x faster there than a loop to a bound or a chunk's test in
    a function of its own)."""
    columns = products.shape[1]
    whole = columns - columns % CHUNK
    at = 0
    for row in range(products.shape[0]):
        values = products[row]
        row_at = first_row + row
        right = row_at + 1 - first_column  # the block's first column right of the diagonal
        for chunk in range(0, whole, CHUNK):
            hit = 0
            for offset in range(CHUNK):
                hit |= values[chunk + offset] >= limit
            if hit:
                at = _take(
                    values, max(chunk, right), chunk + CHUNK, row_at, first_column, limit, pairs, found, at
                )
        at = _take(values, max(whole, right), columns, row_at, first_column, limit, pairs, found, at)
    return at


@numba.njit(cache=True)
def _take(values, start, stop, row, first_column, limit, pairs, found, at):  # pragma: no cover
    for column in range(start, stop):
        if values[column] >= limit:
            if at < len(found):
                pairs[at, 0] = row
                pairs[at, 1] = first_column + column
                found[at] = values[column]
            at += 1
    return at


@numba.njit(cache=True)
def _offer_pairs(pairs, products, keys, best):  # pragma: no cover
    """Offer each pair to both its rows' lists."""
    for at in range(len(pairs)):
        _offer(keys, best, pairs[at, 0], pairs[at, 1], products[at])
        _offer(keys, best, pairs[at, 1], pairs[at, 0], products[at])


@numba.njit(cache=True)
def _offer(keys, best, row, key, value):  # pragma: no cover
    """Put `key` into `row`'s list (best first) if `value` beats its last."""
    last = best.shape[1] - 1
    if value <= best[row, last]:
        return
    at = last
    while at > 0 and best[row, at - 1] < value:
        best[row, at] = best[row, at - 1]
        keys[row, at] = keys[row, at - 1]
        at -= 1
    best[row, at] = value
    keys[row, at] = key


def compile_kernels() -> None:
    """Compile the passes into numba's cache (sketch.compile_kernels calls this), for both kinds
    of products whatever this CPU uses."""
    vectors = np.eye(3, 4, dtype=np.float32)
    for products in (_Quantized.of(vectors, 0.5), _Bfloat16Tiles.of(vectors, 0.5)):
        for first_row, first_column, block in products.blocks():
            near, similar = _block_pairs(block, first_row, first_column, products.limit)
            _offer_pairs(near, similar, np.full((3, 2), -1), np.zeros((3, 2), dtype=np.int32))
