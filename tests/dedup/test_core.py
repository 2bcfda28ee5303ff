"""The dedup core (curation/dedup): exact keys, groups from pairs, vectorized MinHash + LSH."""

import random

import numpy as np
import pytest

from curation.dedup.minhash import (
    Shingling,
    bands_for,
    candidate_pairs,
    estimated_jaccard,
    near_duplicate_groups,
    sketch,
)
from curation.dedup.normalize import exact_key
from curation.dedup.sketch import band_keys, signatures
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
        matrix = signatures(texts, ngram=5)
        assert (matrix[0] == matrix[1]).all()
        assert not (matrix[0] == matrix[2]).all()

    def test_texts_shorter_than_the_ngram_still_get_a_signature(self) -> None:
        matrix = signatures(["ok", "ok", "no"], ngram=5)
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
        matrix = signatures(texts, ngram=5)
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
        pairs = candidate_pairs(band_keys(signatures(texts, ngram=5), bands=32))
        assert [0, 1] in pairs.tolist()
        assert not any(2 in pair or 3 in pair for pair in pairs.tolist())

    def test_word_shingles_ignore_where_a_text_is_cut_into_characters(self) -> None:
        """Word 3-grams: the same words in the same order match; a reordered text does not."""
        texts = [
            "the quick brown fox jumps over the lazy dog today",
            "the quick brown fox jumps over the lazy dog today",
            "today dog lazy the over jumps fox brown quick the",
        ]
        matrix = signatures(texts, ngram=3, words=True)
        assert (matrix[0] == matrix[1]).all()
        assert (matrix[0] == matrix[2]).mean() < 0.2

    def test_fewer_words_than_the_ngram_make_one_shingle(self) -> None:
        matrix = signatures(["lost card", "lost card", "card lost"], ngram=3, words=True)
        assert (matrix[0] == matrix[1]).all() and not (matrix[0] == matrix[2]).all()
        sets = Shingling(words=True, ngram=3).sets(["lost card", "lost card", "card lost"])
        assert sets.jaccard(np.array([0, 0]), np.array([1, 2])).tolist() == [1.0, 0.0]

    @pytest.mark.parametrize("words", [False, True])
    def test_exact_jaccard_of_shingle_sets_matches_python_sets(self, words: bool) -> None:
        rng = random.Random(11)
        vocabulary = ["card", "pin", "fee", "top", "up", "why", "my", "is", "é", "日本"]
        texts = [" ".join(rng.choice(vocabulary) for _ in range(rng.randint(0, 30))) for _ in range(200)]
        ngram = 2 if words else 4

        def python_set(text: str) -> set[str]:
            if words:
                tokens = text.split()
                if len(tokens) < ngram:
                    return {" ".join(tokens)}
                return {" ".join(tokens[i : i + ngram]) for i in range(len(tokens) - ngram + 1)}
            padded = text.ljust(ngram)
            return {padded[i : i + ngram] for i in range(len(padded) - ngram + 1)}

        left = np.array([rng.randrange(200) for _ in range(500)])
        right = np.array([rng.randrange(200) for _ in range(500)])
        got = Shingling(words=words, ngram=ngram).sets(texts).jaccard(left, right)
        for a, b, value in zip(left, right, got, strict=True):
            x, y = python_set(texts[a]), python_set(texts[b])
            assert value == pytest.approx(len(x & y) / len(x | y))

    def test_sketch_bins_estimate_like_the_full_signature(self) -> None:
        rng = random.Random(5)
        texts = ["".join(rng.choice("abcdefgh ") for _ in range(200)) for _ in range(50)]
        texts += [text[:-20] + "zzzz" for text in texts]
        shingling = Shingling(words=False, ngram=5)
        sketches = sketch(texts, shingling, threshold=0.8, num_perm=128)
        pairs = np.array([[i, i + 50] for i in range(50)])
        full = estimated_jaccard(signatures(texts, ngram=5), pairs)
        nudge = estimated_jaccard(sketches.bins, pairs) - full  # 8 bits agree by chance 1 in 256
        assert nudge.min() >= 0 and nudge.max() < 0.04
        assert sketches.keys.shape == (100, bands_for(0.8, 128))


class TestShingling:
    def test_auto_picks_words_for_long_texts_and_characters_for_short(self) -> None:
        assert Shingling.choose("auto", 0, typical_length=80) == Shingling(words=False, ngram=5)
        assert Shingling.choose("auto", 0, typical_length=2000) == Shingling(words=True, ngram=3)
        assert Shingling.choose("char", 7, typical_length=2000) == Shingling(words=False, ngram=7)

    def test_near_duplicate_groups_verify_by_exact_jaccard(self) -> None:
        base = "when will my new card arrive it has been two weeks already and nothing came"
        texts = [
            base,
            base + " yet",
            "how do i change my pin at an atm near me",
            base.replace("two", "three"),
        ]
        found, similarity = near_duplicate_groups(texts, threshold=0.8)
        assert found == [[0, 1, 3]]
        assert 0.8 <= similarity(0, 1) < 1.0
