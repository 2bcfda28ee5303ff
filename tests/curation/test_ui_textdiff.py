"""curation.textdiff: the word differences behind history and side-by-side views."""

from __future__ import annotations

import pytest

from curation.textdiff import Piece, side_by_side, word_diff
from tests.conftest import Team
from tests.curation.ui_support import edited, logged_in, text, written


def same(text: str) -> Piece:
    return Piece("same", text)


def removed(text: str) -> Piece:
    return Piece("removed", text)


def added(text: str) -> Piece:
    return Piece("added", text)


def replacing(text: str) -> Piece:
    """Added right after a removed run with no whitespace between them: shown apart from it."""
    return Piece("added", text, after_removed=True)


class TestWordDiff:
    def test_one_word_replaced(self) -> None:
        assert word_diff("the cat sat", "the dog sat") == [
            same("the "),
            removed("cat"),
            replacing("dog"),
            same(" sat"),
        ]

    def test_identical_texts_are_one_kept_piece(self) -> None:
        assert word_diff("a b c", "a b c") == [same("a b c")]

    def test_from_nothing_everything_is_added(self) -> None:
        assert word_diff("", "new text") == [added("new text")]

    def test_to_nothing_everything_is_removed(self) -> None:
        assert word_diff("old text", "") == [removed("old text")]

    def test_two_empty_texts_have_no_pieces(self) -> None:
        assert word_diff("", "") == []

    def test_words_added_at_the_end(self) -> None:
        assert word_diff("my card", "my card is lost") == [same("my card"), added(" is lost")]

    def test_punctuation_is_its_own_token(self) -> None:
        assert word_diff("Hello, world!", "Hello world!") == [same("Hello"), removed(","), same(" world!")]

    def test_unicode_words_stay_whole(self) -> None:
        assert word_diff("café au lait", "café noir") == [
            same("café "),
            removed("au lait"),
            replacing("noir"),
        ]

    def test_whole_words_change_not_letters(self) -> None:
        assert word_diff("cards", "card") == [removed("cards"), replacing("card")]

    def test_words_replaced_one_by_one_read_as_one_removal_then_one_insertion(self) -> None:
        assert word_diff("I lost my card", "I found a card") == [
            same("I "),
            removed("lost my"),
            replacing("found a"),
            same(" card"),
        ]

    def test_a_space_in_the_texts_needs_no_extra_one(self) -> None:
        assert word_diff("a cat", "a ") == [same("a "), removed("cat")]
        assert word_diff("my card", "my card is lost") == [same("my card"), added(" is lost")]

    @pytest.mark.parametrize(
        ("old", "new"),
        [
            ("the cat sat", "the dog sat down"),
            ("line one\nline two", "line one\nline 2\nline three"),
            ("  spaced   out ", "spaced out"),
            ('{"a": 1}', '{"a": 2, "b": 3}'),
            ("<b>x</b>", "<i>x</i>"),
        ],
    )
    def test_the_pieces_rebuild_both_texts(self, old: str, new: str) -> None:
        pieces = word_diff(old, new)
        assert "".join(p.text for p in pieces if p.kind != "added") == old
        assert "".join(p.text for p in pieces if p.kind != "removed") == new
        assert {p.kind for p in pieces} <= {"same", "removed", "added"}


@pytest.mark.django_db
def test_the_history_page_separates_removed_and_added_words(team: Team) -> None:
    example = written(team.project, team.annotator, "Where is my card?")
    edited(example, team.annotator, input="Where is my new wallet?")
    page = text(logged_in(team.annotator).get(f"/examples/{example.pk}/"))
    assert "Where is my <del>card</del> <ins>new wallet</ins>?" in page


class TestSideBySide:
    def test_each_side_marks_what_only_it_has(self) -> None:
        left, right = side_by_side("the cat sat", "the dog sat down")
        assert left == [same("the "), removed("cat"), same(" sat")]
        assert right == [same("the "), added("dog"), same(" sat"), added(" down")]

    def test_identical_texts_mark_nothing(self) -> None:
        assert side_by_side("same words", "same words") == ([same("same words")], [same("same words")])

    def test_one_empty_side(self) -> None:
        assert side_by_side("", "only right") == ([], [added("only right")])
        assert side_by_side("only left", "") == ([removed("only left")], [])

    def test_each_side_rebuilds_its_text(self) -> None:
        left, right = side_by_side("my card is lost", "my card is lost today")
        assert "".join(p.text for p in left) == "my card is lost"
        assert "".join(p.text for p in right) == "my card is lost today"
        assert all(p.kind != "added" for p in left) and all(p.kind != "removed" for p in right)
