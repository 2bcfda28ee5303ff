"""Near-neighbour search over embeddings (curation/dedup/embeddings.py): the SimHash LSH path
finds what the exact search finds; its shape; and the candidate pairs it builds on."""

from __future__ import annotations

import itertools
import math

import numpy as np
import numpy.typing as npt
import pytest

from curation.dedup.embeddings import RECALL_AT_THRESHOLD, lsh_shape, similar_groups, unit_rows
from curation.dedup.minhash import candidate_pairs
from curation.dedup.unionfind import groups

Vectors = npt.NDArray[np.float32]
THRESHOLD = 0.95


def unit(rows: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    return rows / np.linalg.norm(rows, axis=-1, keepdims=True)


def planted(
    count: int = 3000, copies: int = 200, dim: int = 64, seed: int = 7
) -> tuple[Vectors, list[list[int]]]:
    """Random unit vectors, then `copies` near neighbours of some of them at a cosine of 0.97 to
    0.99 (exactly), and the groups those make: each original with its copy."""
    rng = np.random.default_rng(seed)
    base = unit(rng.standard_normal((count, dim)))
    originals = rng.choice(count, size=copies, replace=False)
    cosines = rng.uniform(0.97, 0.99, size=copies)
    noise = rng.standard_normal((copies, dim))
    noise -= np.einsum("ij,ij->i", noise, base[originals])[:, None] * base[originals]  # orthogonal
    near = cosines[:, None] * base[originals] + np.sqrt(1 - cosines**2)[:, None] * unit(noise)
    vectors = np.concatenate([base, near]).astype(np.float32)
    expected = sorted([int(original), count + copy] for copy, original in enumerate(originals))
    return vectors, expected


class TestSimilarGroups:
    def test_the_lsh_path_finds_the_groups_the_exact_path_finds(self) -> None:
        # Given random unit vectors with planted near neighbours (cosine 0.97 to 0.99)
        vectors, expected = planted()
        cosines = np.einsum("ij,ij->i", vectors[[a for a, _ in expected]], vectors[[b for _, b in expected]])
        assert cosines.min() >= 0.969 and cosines.max() <= 0.991

        # When both paths search at a threshold of 0.95
        exact, exact_similarity = similar_groups(vectors, THRESHOLD, exact_max_rows=len(vectors))
        lsh, lsh_similarity = similar_groups(vectors, THRESHOLD, exact_max_rows=0)

        # Then both find exactly the planted pairs (random 64-dim vectors are never that close)
        assert sorted(exact) == expected
        assert sorted(lsh) == sorted(exact)
        a, b = expected[0]
        assert lsh_similarity(a, b) == pytest.approx(exact_similarity(a, b))
        assert lsh_similarity(a, b) == pytest.approx(float(vectors[a] @ vectors[b]))

    def test_the_lsh_path_joins_a_group_of_several_neighbours(self) -> None:
        # Given five close variants of one vector among random ones
        rng = np.random.default_rng(3)
        vectors = unit(rng.standard_normal((500, 32)))
        centre = vectors[10]
        for row in (50, 120, 300, 499):
            noise = rng.standard_normal(32)
            noise = unit(noise - (noise @ centre) * centre)  # orthogonal to the centre
            vectors[row] = 0.995 * centre + math.sqrt(1 - 0.995**2) * noise
        vectors32 = vectors.astype(np.float32)

        # When the LSH path searches
        found, _ = similar_groups(vectors32, 0.97, exact_max_rows=0)

        # Then they are one group, as the exact search finds
        assert found == [[10, 50, 120, 300, 499]]
        assert similar_groups(vectors32, 0.97, exact_max_rows=10_000)[0] == found

    @pytest.mark.parametrize("exact_max_rows", [0, 10_000])
    def test_nothing_close_makes_no_group(self, exact_max_rows: int) -> None:
        vectors = unit(np.random.default_rng(1).standard_normal((400, 64))).astype(np.float32)
        assert similar_groups(vectors, THRESHOLD, exact_max_rows=exact_max_rows)[0] == []


class TestLshShape:
    def test_more_rows_get_more_bits_per_band(self) -> None:
        shapes = [lsh_shape(count, THRESHOLD) for count in (100, 10_000, 100_000, 1_000_000, 10**8)]
        bits = [bits for bits, _ in shapes]
        assert bits == sorted(bits)
        assert bits[0] < bits[2] < bits[3]
        assert all(16 <= value <= 32 for value in bits)

    @pytest.mark.parametrize("count", [2, 1000, 50_000, 1_000_000])
    @pytest.mark.parametrize("threshold", [0.8, 0.9, 0.95, 0.99])
    def test_a_pair_at_the_threshold_shares_a_band_with_the_recall_asked_with_no_band_to_spare(
        self, count: int, threshold: float
    ) -> None:
        bits, bands = lsh_shape(count, threshold)
        agree = 1 - math.acos(threshold) / math.pi  # one hyperplane puts both on the same side

        def recall(bands: int) -> float:
            return 1 - (1 - agree**bits) ** bands

        assert recall(bands) >= RECALL_AT_THRESHOLD
        assert bands == 1 or recall(bands - 1) < RECALL_AT_THRESHOLD

    def test_a_higher_threshold_needs_fewer_bands(self) -> None:
        bands = [lsh_shape(100_000, threshold)[1] for threshold in (0.8, 0.9, 0.95, 0.99)]
        assert bands == sorted(bands, reverse=True)
        assert bands[0] > bands[-1]


class TestCandidatePairs:
    def keys_with_run(self, run: list[int], rows: int = 40, seed: int = 0) -> npt.NDArray[np.uint32]:
        """One band: every row its own key, except the rows of `run`, which share one."""
        keys = np.random.default_rng(seed).permutation(rows).astype(np.uint32) + 1000
        keys[run] = 7
        return keys[:, None]

    @pytest.mark.parametrize("window", [1, 2, 5, 16])
    def test_every_pair_of_a_run_no_longer_than_window_plus_one(self, window: int) -> None:
        # Given runs of each length up to window + 1, at scattered rows
        for length in range(2, window + 2):
            run = sorted(np.random.default_rng(length).choice(40, size=length, replace=False).tolist())

            # When the candidate pairs are listed
            pairs = candidate_pairs(self.keys_with_run(run, seed=length), window=window)

            # Then they are every pair of the run, once each, sorted
            assert pairs.tolist() == [list(pair) for pair in itertools.combinations(run, 2)]

    def test_a_longer_run_is_not_all_pairs_but_joins_every_row(self) -> None:
        run = list(range(0, 40, 2))  # 20 rows sharing a key
        pairs = candidate_pairs(self.keys_with_run(run), window=3)
        assert len(pairs) < math.comb(len(run), 2)
        assert {int(row) for row in pairs.ravel()} == set(run)
        assert groups([tuple(pair) for pair in pairs.tolist()]) == [run]

    def test_a_pair_found_in_several_bands_is_listed_once_and_pairs_are_ordered(self) -> None:
        # Given three bands: rows 3 and 9 share a key in two of them, rows 9 and 1 in the third
        keys = np.arange(36, dtype=np.uint32).reshape(12, 3) + 100
        keys[3, 0] = keys[9, 0] = 1
        keys[3, 2] = keys[9, 2] = 2
        keys[9, 1] = keys[1, 1] = 3

        pairs = candidate_pairs(keys, window=4)

        assert pairs.tolist() == [[1, 9], [3, 9]]
        assert pairs.dtype == np.int64

    def test_no_shared_key_no_pair(self) -> None:
        keys = np.arange(30, dtype=np.uint32).reshape(10, 3)
        assert candidate_pairs(keys, window=2).shape == (0, 2)


def test_unit_rows_scales_each_row_to_unit_length_in_place_and_leaves_a_zero_row_zero() -> None:
    rng = np.random.default_rng(3)
    matrix = rng.standard_normal((1000, 64)).astype(np.float32) * 5
    matrix[10] = 0
    expected = matrix / np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12)

    result = unit_rows(matrix)

    assert result is matrix and result.dtype == np.float32
    assert np.allclose(result, expected, atol=1e-6)
    assert not result[10].any()
