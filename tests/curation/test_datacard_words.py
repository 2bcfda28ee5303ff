"""The data card's provenance lines count in words a reader expects: one reviewer, two reviewers."""

from curation.services.datacard import _provenance_lines


def test_given_one_review_by_one_reviewer_then_the_card_says_so_in_the_singular() -> None:
    stats = {"reviews": {"total": 1, "approvals": 1, "reviewers": 1}, "excluded": {"duplicate": 1}}

    lines = _provenance_lines(stats)

    assert "- Reviews: 1 (1 approval, 1 reviewer)" in lines
    assert any(
        line.startswith(
            "- Left out: 1 duplicate, 0 in open contradiction or disagreement flags, 0 not fitting"
        )
        for line in lines
    )


def test_given_several_or_none_then_the_card_says_so_in_the_plural() -> None:
    stats = {"reviews": {"total": 5, "approvals": 0, "reviewers": 2}, "excluded": {}}

    lines = _provenance_lines(stats)

    assert "- Reviews: 5 (0 approvals, 2 reviewers)" in lines
    assert any(line.startswith("- Left out: 0 duplicates,") for line in lines)
