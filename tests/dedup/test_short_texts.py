"""The word rule for short texts (curation.dedup.short_texts): each kind of retyping it folds,
what it leaves to the model or the n-grams, and its candidate keys."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from curation.dedup.minhash import near_duplicate_groups
from curation.dedup.normalize import exact_key, exact_keys
from curation.dedup.short_texts import (
    FILLER_DEFAULTS,
    Comparison,
    Folding,
    Meaning,
    Weights,
    candidate_pairs,
    compare,
    explain,
    filler_list,
    is_typo,
    key_rows,
    keys,
)

ENGLISH = Folding(tuple(FILLER_DEFAULTS["en"]))
ORIGINAL = "Is payment required to get a card of my own?"


def words(text: str, folding: Folding = ENGLISH) -> tuple[str, ...]:
    return folding.words(exact_key(text))


def comparison(first: str, second: str, folding: Folding = ENGLISH) -> Comparison | None:
    return compare(words(first, folding), words(second, folding))


class TestFolding:
    @pytest.mark.parametrize(
        "copy",
        [
            "IS PAYMENT REQUIRED TO GET A CARD OF MY OWN",  # case
            "Is payment required to get a card of my own",  # punctuation
            "Is payment  required to get a card of my own?",  # spaces
            "hi, Is payment required to get a card of my own?",  # a filler at the start
            "Is payment required to get a card of my own? thank you",  # a filler phrase at the end
            "urgent: please Is payment required to get a card of my own? thx",  # several
            "Is payment required to get a card of my own? aasp",  # a filler misspelled
        ],
    )
    def test_surface_edits_leave_the_same_words(self, copy: str) -> None:
        assert words(copy) == words(ORIGINAL)

    def test_fillers_are_stripped_only_at_the_ends_and_never_every_word(self) -> None:
        assert words("can you please help") == ("can", "you", "please", "help")
        assert words("thanks") == ("thanks",)

    def test_the_longest_filler_goes_first_after_each_strip(self) -> None:
        # "hi" stripped, the text starts with "thank you": the phrase, not "thank" read as "thanks"
        assert words("hi thank you for your help") == ("for", "your", "help")

    def test_a_text_of_fillers_only_folds_alike_whatever_order_the_list_gives(self) -> None:
        # One filler is always left; which one must not depend on a process's hash seed (a
        # set's order), or two workers fold one text two ways
        forward, backward = Folding(("please", "hi")), Folding(("hi", "please"))
        assert words("please hi", forward) == words("please hi", backward) == ("please",)

    def test_contractions_whole_whether_written_or_normalized(self) -> None:
        assert words("Why doesn't it work") == words("why doesnt it work") == ("why", "doesnt", "it", "work")

    def test_number_words_are_digits(self) -> None:
        assert words("I ordered two weeks ago") == words("I ordered 2 weeks ago")

    def test_currency_signs_fold_only_where_the_project_says_so(self) -> None:
        assert words("extra £1 charge") == words("extra €1 charge")
        apart = Folding(ENGLISH.fillers, fold_currency=False)
        assert words("extra £1 charge", apart) != words("extra €1 charge", apart)

    def test_a_filler_list_as_people_type_it(self) -> None:
        assert filler_list("Hi,\nthank you\n\nPLEASE, hi") == ["hi", "thank you", "please"]


class TestCompare:
    def test_a_transposition_is_a_typo(self) -> None:
        found = comparison(ORIGINAL, "Is payment required to get a crad of my own?")
        assert found == Comparison(1.0, (("card", "crad"),))

    @pytest.mark.parametrize(
        ("a", "b", "typo"),
        [
            ("card", "crad", True),
            ("is", "si", True),  # a swap in a short word too
            ("charge", "charges", True),  # one letter more from five letters on
            ("send", "sent", False),  # short words differ by a letter: another word
            ("10", "01", False),  # numbers are never typos
            ("card", "cards", False),
        ],
    )
    def test_what_counts_as_a_typo(self, a: str, b: str, typo: bool) -> None:
        assert is_typo(a, b) is typo

    def test_two_spellings_both_common_are_two_words(self) -> None:
        common = Weights(Counter({"there": 50, "three": 40}), 1000)
        assert not is_typo("there", "three", common)
        assert is_typo("there", "three")  # without the texts' counts, a swap is a swap

    def test_a_moved_space_is_a_typo(self) -> None:
        assert comparison("Can I top up here", "Can I topup here") == Comparison(1.0, (("top up", "topup"),))
        assert comparison("wait a reservation", "wait ar eservation") == Comparison(
            1.0, (("a reservation", "ar eservation"),)
        )

    def test_a_dropped_word_is_named_and_weighed(self) -> None:
        found = comparison("How can I dispute a direct debit charge", "How can I dispute a debit cahrge")
        assert found is not None
        assert found.only_first == "direct" and found.only_second is None
        assert found.typos == (("charge", "cahrge"),)
        assert found.similarity == pytest.approx(7 / 8)  # unweighted: 7 of 8 words in common

    def test_a_rare_word_weighs_more_than_a_common_one(self) -> None:
        weights = Weights(
            Counter({"virtual": 2, "a": 900, "can": 800, "i": 950, "get": 700, "card": 600}), 1000
        )
        virtual = compare(words("Can I get a virtual card"), words("Can I get a card"), weights)
        article = compare(words("Can I get a virtual card"), words("Can I get virtual card"), weights)
        assert virtual is not None and article is not None
        assert virtual.similarity < article.similarity

    def test_a_changed_word_is_named(self) -> None:
        found = comparison("What do I do to change my name", "What do I do to change my PIN")
        assert found is not None and (found.only_first, found.only_second) == ("name", "pin")

    def test_more_than_one_word_apart_is_left_to_the_n_grams(self) -> None:
        assert comparison("Where is my new card", "Where is the card now") is None
        assert comparison("card lost", "I have lost my card today") is None


class TestExplain:
    def test_it_names_every_fold(self) -> None:
        text = explain("Hi, is payment required to get a crad of my own? thanks", ORIGINAL, ENGLISH)
        assert text is not None
        assert "'hi', 'thanks' stripped" in text and "'crad' read as 'card'" in text

    def test_currency_signs_taken_as_one(self) -> None:
        assert "currency signs taken as one" in (explain("extra £1 charge", "extra €1 charge", ENGLISH) or "")

    def test_another_amount_has_no_word_rule_reason(self) -> None:
        assert explain("Why a $1 charge", "Why a $10 charge", ENGLISH) is None


class TestKeys:
    def test_copies_share_a_key_and_strangers_do_not(self) -> None:
        texts = [
            ORIGINAL,
            "Is payment required to get a crad of my own?",  # a swap: the whole sequence's key
            "Is payment required to get a card of own?",  # a dropped word: a deletion key
            "Is payment needed to get a card of my own?",  # a changed word: deletion keys
            "Is payment required to get a card of my ow n?",  # a moved space: a joined key
            "What is the exchange rate for euros today?",
        ]
        pairs = candidate_pairs(*key_rows(words(text) for text in texts))
        assert {tuple(pair) for pair in pairs.tolist()} >= {(0, 1), (0, 2), (0, 3), (0, 4)}
        assert not any(5 in pair for pair in pairs.tolist())

    def test_keys_are_the_same_in_every_process(self) -> None:
        # crc32 and adler32 of the joined letters: fixed values, unlike Python's salted hash()
        assert keys(("ab",)) == [(0x9E83486D & 0x7FFFFFFF) << 32 | 0x012600C4]

    def test_long_texts_are_keyed_whole_only(self) -> None:
        long_text = tuple(f"word{index}" for index in range(20))
        assert len(keys(long_text)) == 1
        assert keys(()) == [] and keys(tuple("w" for _ in range(31))) == []

    def test_a_template_many_texts_share_is_chained_not_paired_all_with_all(self) -> None:
        rows = np.arange(200, dtype=np.int64)
        pairs = candidate_pairs(rows, np.zeros(200, dtype=np.int64))
        assert len(pairs) == 199


class TestInMemoryGroups:
    """near_duplicate_groups with the word rule, as the contradiction job runs it."""

    def groups(self, texts: list[str], cosine: float | None = None) -> set[frozenset[str]]:
        meaning = None
        if cosine is not None:
            meaning = Meaning(lambda rows: [texts[row] for row in rows], lambda pairs: [cosine] * len(pairs))
        found, _ = near_duplicate_groups(exact_keys(texts), threshold=0.8, folding=ENGLISH, meaning=meaning)
        return {frozenset(texts[row] for row in group) for group in found}

    UNRELATED = ["What is the exchange rate for euros today?", "My card was stolen, block it."]

    def test_a_typo_in_a_short_text_is_found(self) -> None:
        copy = "Is payment required to get a crad of my own?"
        assert self.groups([ORIGINAL, copy, *self.UNRELATED]) == {frozenset({ORIGINAL, copy})}

    def test_a_dropped_word_is_the_models_call(self) -> None:
        copy = "Is payment required to get a card of own?"
        texts = [ORIGINAL, copy, *self.UNRELATED]
        assert self.groups(texts, cosine=0.95) == {frozenset({ORIGINAL, copy})}
        assert self.groups(texts, cosine=0.85) == set()

    def test_a_changed_word_the_model_finds_another_request_is_kept_apart(self) -> None:
        texts = ["What do i have to do to change my name?", "What do i have to do to change my pin?"]
        assert self.groups(texts, cosine=0.4) == set()  # the n-grams alone call them alike
        assert self.groups(texts, cosine=0.95) == {frozenset(texts)}

    def test_another_amount_is_another_request(self) -> None:
        texts = [
            "Why is there an extra $1 charge on my statement?",
            "Why is there an extra $10 charge on my statement?",
        ]
        assert self.groups(texts, cosine=0.99) == set()
