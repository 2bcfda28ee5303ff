"""The dedup core (curation/dedup): exact keys, groups from pairs, vectorized MinHash + LSH."""

import random

import numpy as np
import pytest

from curation.dedup.minhash import candidate_pairs, char_shingles, estimated_jaccard, signatures
from curation.dedup.normalize import exact_key
from curation.dedup.unionfind import groups


def true_jaccard(left: str, right: str, ngram: int = 5) -> float:
    a = {left[i : i + ngram] for i in range(len(left) - ngram + 1)}
    b = {right[i : i + ngram] for i in range(len(right) - ngram + 1)}
    return len(a & b) / len(a | b)


class TestExactKey:
    @pytest.mark.parametrize(
        "variant",
        [
            "hello world",
            "Hello, WORLD!",
            "  hello\tworld ",
            "\uff28\uff25\uff2c\uff2c\uff2f world",  # full-width letters
            "hello... world?",
        ],
    )
    def test_case_spacing_punctuation_and_width_are_ignored(self, variant: str) -> None:
        assert exact_key(variant) == exact_key("Hello world")

    def test_different_words_stay_apart(self) -> None:
        assert exact_key("hello world") != exact_key("hello word")


class TestGroups:
    def test_pairs_join_transitively(self) -> None:
        assert groups([(1, 2), (3, 4), (2, 5), (9, 9)]) == [[1, 2, 5], [3, 4]]

    def test_no_pairs_no_groups(self) -> None:
        assert groups([]) == []


class TestMinHash:
    def test_identical_texts_have_identical_signatures(self) -> None:
        texts = ["Where is my card?", "Where is my card?", "Refund please"]
        hashes, owner = char_shingles(texts, 5)
        matrix = signatures(hashes, owner, len(texts))
        assert (matrix[0] == matrix[1]).all()
        assert not (matrix[0] == matrix[2]).all()

    def test_texts_shorter_than_the_ngram_still_get_a_signature(self) -> None:
        hashes, owner = char_shingles(["ok", "ok", "no"], 5)
        matrix = signatures(hashes, owner, 3)
        assert (matrix[0] == matrix[1]).all() and not (matrix[0] == matrix[2]).all()

    def test_estimates_follow_the_true_jaccard(self) -> None:
        rng = random.Random(3)
        words = [
            "card",
            "arrive",
            "account",
            "transfer",
            "payment",
            "pending",
            "refund",
            "exchange",
            "rate",
            "fee",
            "cash",
        ]
        originals = [" ".join(rng.choice(words) for _ in range(rng.randint(8, 40))) for _ in range(300)]
        edited = [text.replace(" ", "  ", 1)[::-1][::-1] + rng.choice(words) for text in originals]
        texts = originals + edited
        hashes, owner = char_shingles(texts, 5)
        matrix = signatures(hashes, owner, len(texts))
        pairs = np.array([[i, i + 300] for i in range(300)])
        estimated = estimated_jaccard(matrix, pairs)
        true = np.array([true_jaccard(texts[i], texts[i + 300]) for i in range(300)])
        assert np.abs(estimated - true).mean() < 0.05

    def test_lsh_finds_planted_near_duplicates_and_not_strangers(self) -> None:
        texts = [
            "When will my new card arrive? It has been two weeks.",
            "when will my new card arrive? it has been two weeks",
            "How do I change the PIN of my debit card at an ATM?",
            "Why was I charged a fee for a transfer abroad last Monday?",
        ]
        hashes, owner = char_shingles(texts, 5)
        matrix = signatures(hashes, owner, len(texts))
        pairs = candidate_pairs(matrix, bands=32)
        assert [0, 1] in pairs.tolist()
        assert not any(2 in pair or 3 in pair for pair in pairs.tolist())
