"""The exact searches' products (curation.dedup.exact_search), int8 and AMX's bfloat16 tiles
alike: each row's nearest rows as float32 ranks them, whatever the blocks or tiles, and no more
than that many however alike the rows; every pair at a floor."""

from __future__ import annotations

import numpy as np
import pytest

from curation.dedup import exact_search


@pytest.fixture(autouse=True, params=["int8", "int8, 7-bit right operand", "bfloat16 tiles"])
def products(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test on each kind of products, whatever this CPU picks (torch multiplies bfloat16
    without AMX too, only slower): int8 as this CPU multiplies bytes, and as a CPU without VNNI
    does (in 7 bits, where AVX2's byte products would saturate 16 bits)."""
    monkeypatch.setattr(exact_search, "amx_available", lambda: request.param == "bfloat16 tiles")
    if request.param == "int8, 7-bit right operand":
        monkeypatch.setattr(exact_search, "vnni_available", lambda: False)
    return "bfloat16 tiles" if request.param == "bfloat16 tiles" else "int8"


def _split(monkeypatch: pytest.MonkeyPatch, products: str, rows: int, count: int) -> None:
    """Products of `count` rows a few rows at a time: int8 blocks of `rows` rows at first (each
    block's columns right of its first row), or bfloat16 tiles of `rows` rows and columns."""
    if products == "int8":
        monkeypatch.setattr(exact_search, "BLOCK_CELLS", rows * count)
    else:
        monkeypatch.setattr(exact_search, "TILE", rows)


def _unit(vectors: np.ndarray) -> np.ndarray:
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


def _groups(rng: np.random.Generator, groups: int = 40, size: int = 6, dims: int = 48) -> np.ndarray:
    centres = rng.standard_normal((groups, dims))
    return _unit(np.repeat(centres, size, axis=0) + 0.35 * rng.standard_normal((groups * size, dims)))


def _nearest_by_float32(vectors: np.ndarray, neighbours: int, floor: float) -> set[tuple[int, int]]:
    similar = vectors @ vectors.T
    np.fill_diagonal(similar, -np.inf)
    found = set()
    for row in range(len(vectors)):
        for near in np.argsort(-similar[row])[:neighbours].tolist():
            if similar[row, near] >= floor:
                found.add((min(row, near), max(row, near)))
    return found


def test_pairs_are_each_rows_nearest_rows_at_the_floor_as_float32_ranks_them() -> None:
    # Given groups of six rows around a centre (each row's 5 nearest: its group)
    vectors = _groups(np.random.default_rng(3))

    # When each row's 5 nearest at 0.3 or more are searched
    pairs = exact_search.nearest_pairs(vectors, 5, 0.3)

    # Then they are float32's, each pair once with its lower row first
    found = {(a, b) for a, b in pairs.tolist()}
    expected = _nearest_by_float32(vectors, 5, 0.3)
    similar = vectors @ vectors.T
    assert expected - found == set()
    # and any more are within the int8 products' slack of the floor
    assert all(similar[a, b] >= 0.3 - exact_search.SLACK for a, b in found - expected)
    assert (pairs[:, 0] < pairs[:, 1]).all() and len(found) == len(pairs)


def test_blocks_of_a_few_rows_find_the_same_pairs_as_one_block(
    monkeypatch: pytest.MonkeyPatch, products: str
) -> None:
    vectors = _groups(np.random.default_rng(4), groups=30)  # 180 rows
    whole = exact_search.nearest_pairs(vectors, 4, 0.2)

    # When the products come a few rows at a time
    _split(monkeypatch, products, 7, len(vectors))
    blocked = exact_search.nearest_pairs(vectors, 4, 0.2)

    assert np.array_equal(whole, blocked)


def test_alike_rows_give_each_row_its_count_of_neighbours_not_every_pair() -> None:
    # Given 400 copies of one vector (every pair at similarity 1)
    vectors = np.tile(_unit(np.ones((1, 16))), (400, 1))

    # When each row's 3 nearest are searched
    pairs = exact_search.nearest_pairs(vectors, 3, 0.5)

    # Then each row is paired with 3 rows of its own and at most as many that chose it: pairs
    # grow with the rows, not with their square
    assert 400 * 3 / 2 <= len(pairs) <= 400 * 3
    ends = np.bincount(pairs.ravel(), minlength=400)
    assert ends.min() >= 3


def test_fewer_rows_than_neighbours_pair_every_row_with_every_other() -> None:
    vectors = np.tile(_unit(np.ones((1, 16))), (4, 1))

    pairs = exact_search.nearest_pairs(vectors, 16, 0.5)

    assert pairs.tolist() == [[0, 1], [0, 2], [0, 3], [1, 2], [1, 3], [2, 3]]


def test_no_pairs_below_the_floor_for_zero_vectors_or_a_single_row() -> None:
    rng = np.random.default_rng(5)
    apart = _unit(rng.standard_normal((50, 64)))
    similar = apart @ apart.T
    np.fill_diagonal(similar, -1)

    pairs = exact_search.nearest_pairs(apart, 5, float(similar.max()) + 0.05)

    assert len(pairs) == 0
    assert len(exact_search.nearest_pairs(np.zeros((10, 8), dtype=np.float32), 3, 0.0)) == 0
    assert len(exact_search.nearest_pairs(apart[:1], 3, 0.0)) == 0


def test_pairs_at_least_are_every_pair_at_the_floor_and_none_far_below() -> None:
    vectors = _groups(np.random.default_rng(6), groups=30, dims=64)
    similar = vectors @ vectors.T

    pairs = exact_search.pairs_at_least(vectors, 0.6)

    found = {(a, b) for a, b in pairs.tolist()}
    upper = np.triu(similar, k=1)
    expected = {(a, b) for a, b in zip(*np.nonzero(upper >= 0.6), strict=True)}
    assert expected <= found
    assert all(similar[a, b] >= 0.6 - exact_search.SLACK for a, b in found)
    assert (pairs[:, 0] < pairs[:, 1]).all() and len(found) == len(pairs)


def test_pairs_at_least_the_same_in_blocks_of_a_few_rows(
    monkeypatch: pytest.MonkeyPatch, products: str
) -> None:
    vectors = _groups(np.random.default_rng(7), groups=20)  # 120 rows
    whole = exact_search.pairs_at_least(vectors, 0.4)

    _split(monkeypatch, products, 5, len(vectors))

    assert np.array_equal(
        np.unique(exact_search.pairs_at_least(vectors, 0.4), axis=0), np.unique(whole, axis=0)
    )
