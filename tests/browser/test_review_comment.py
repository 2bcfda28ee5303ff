"""The review card's comment box, in headless Chromium: Enter in a comment never approves.

A reviewer who clicks into the box, types what is wrong and presses Enter means to send it back,
not to approve it; Ctrl+Enter (Cmd+Enter on a Mac) requests changes with the comment, and the
documented `c`, comment, Enter keeps working (tests/browser/test_flows.py).
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from curation.models import ExampleStatus, Review
from tests.browser.conftest import CHROMIUM, Crew
from tests.browser.test_flows import LogIn, on_the_review_queue

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason=f"browser tests need Chromium at {CHROMIUM} (apt-get install chromium)"
    ),
]


def test_enter_in_a_typed_comment_starts_a_new_line_and_decides_nothing(crew: Crew, log_in: LogIn) -> None:
    # Given a reviewer on the review queue
    first, _, page = on_the_review_queue(crew, log_in)
    card = page.locator("[data-review-card]")
    expect(card).to_have_attribute("data-example", str(first.pk))

    # When they click into the comment box, type what is wrong and press Enter
    comment = page.get_by_label("Comment")
    comment.click()
    page.keyboard.type("wrong label")
    page.keyboard.press("Enter")
    page.keyboard.type("it asks about rates")

    # Then nothing is decided: the comment goes on to a new line, on the same card
    expect(comment).to_have_value("wrong label\nit asks about rates")
    expect(card).to_have_attribute("data-example", str(first.pk))
    assert not Review.objects.exists()
    first.refresh_from_db()
    assert first.status == ExampleStatus.SUBMITTED


@pytest.mark.parametrize("send", ["Control+Enter", "Meta+Enter"])
def test_ctrl_or_cmd_enter_requests_changes_with_the_comment(crew: Crew, log_in: LogIn, send: str) -> None:
    # Given a reviewer who typed a comment without pressing `c` first
    first, second, page = on_the_review_queue(crew, log_in)
    card = page.locator("[data-review-card]")
    page.evaluate("window.finchBeforeKeys = 'same page'")
    page.get_by_label("Comment").click()
    page.keyboard.type("Wrong label: it asks about delivery.")

    # When they press Ctrl+Enter (Cmd+Enter on a Mac)
    page.keyboard.press(send)

    # Then the example is sent back with the comment, through htmx, and the next card shows
    expect(card).to_contain_text(f"Example {first.pk}: needs changes.")
    expect(card).to_have_attribute("data-example", str(second.pk))
    assert page.evaluate("window.finchBeforeKeys") == "same page"
    review = Review.objects.get()
    assert (review.example_id, review.decision, review.comment) == (
        first.pk,
        "request_changes",
        "Wrong label: it asks about delivery.",
    )


def test_ctrl_enter_in_an_empty_comment_sends_nothing(crew: Crew, log_in: LogIn) -> None:
    first, _, page = on_the_review_queue(crew, log_in)
    card = page.locator("[data-review-card]")
    comment = page.get_by_label("Comment")
    comment.click()
    page.keyboard.press("Control+Enter")
    expect(comment).to_have_attribute("placeholder", "Say what should change, then press Enter")
    expect(comment).to_be_focused()
    expect(card).to_have_attribute("data-example", str(first.pk))
    assert not Review.objects.exists()
