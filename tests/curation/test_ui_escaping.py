"""All user text is escaped: inputs, outputs, notes, comments, on every page that shows them."""

from __future__ import annotations

import pytest

from curation.models import Example, ExampleStatus, FlagKind, TaskType
from curation.services.flags import flag_create
from tests.conftest import Team
from tests.curation.ui_support import HTMX, edited, logged_in, reviewed, text, written

SCRIPT = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"
IMAGE = '<img src=x onerror="alert(2)">'
ESCAPED_IMAGE = "&lt;img src=x onerror=&quot;alert(2)&quot;&gt;"


def assert_escaped(page: str, raw: str = SCRIPT, escaped: str = ESCAPED) -> None:
    assert raw not in page
    assert escaped in page


@pytest.fixture
def hostile(team: Team) -> Example:
    """A submitted example whose input is a script, edited once so it has a history."""
    example = written(team.project, team.annotator, SCRIPT, "card_linking")
    return edited(example, team.annotator, output="card_arrival")


@pytest.mark.django_db
class TestEscaping:
    def test_browse(self, team: Team, hostile: Example) -> None:
        client = logged_in(team.annotator)
        assert_escaped(text(client.get(f"/projects/{team.project.pk}/examples/")))
        assert_escaped(text(client.get(f"/projects/{team.project.pk}/examples/?q=script", **HTMX)))

    def test_the_search_box_echo_is_escaped(self, team: Team, hostile: Example) -> None:
        page = text(logged_in(team.annotator).get(f"/projects/{team.project.pk}/examples/", {"q": IMAGE}))
        assert_escaped(page, IMAGE, ESCAPED_IMAGE)

    def test_example_page_and_its_history_diff(self, team: Team, hostile: Example) -> None:
        page = text(logged_in(team.annotator).get(f"/examples/{hostile.pk}/"))
        assert_escaped(page)
        assert f"<ins>{ESCAPED}</ins>" in page  # the first revision in the history diff
        assert "r2 · edited" in page

    def test_history_diff_of_an_edited_script(self, team: Team) -> None:
        example = written(team.project, team.annotator, SCRIPT, "card_linking")
        edited(example, team.annotator, input=f"{SCRIPT} {IMAGE}")
        page = text(logged_in(team.annotator).get(f"/examples/{example.pk}/"))
        assert_escaped(page)
        assert_escaped(page, IMAGE, ESCAPED_IMAGE)
        assert "<ins> &lt;img" in page

    def test_review_card(self, team: Team, hostile: Example) -> None:
        client = logged_in(team.reviewer)
        page = text(client.get(f"/projects/{team.project.pk}/review/"))
        assert_escaped(page)
        assert f'<div class="text">{ESCAPED}</div>' in page
        partial = text(client.get(f"/projects/{team.project.pk}/review/?after={hostile.pk - 1}", **HTMX))
        assert_escaped(partial)

    def test_review_card_after_a_conflict(self, team: Team, hostile: Example) -> None:
        page = text(
            logged_in(team.reviewer).post(
                f"/examples/{hostile.pk}/review/", {"decision": "approve", "revision": "1"}, **HTMX
            )
        )
        assert "Someone changed or reviewed this example" in page
        assert_escaped(page)

    def test_chat_messages_on_the_review_card(self, team: Team) -> None:
        team.project.task_type = TaskType.CHAT
        team.project.labels = []
        team.project.save()
        written(team.project, team.annotator, [{"role": "user", "content": SCRIPT}], IMAGE)
        page = text(logged_in(team.reviewer).get(f"/projects/{team.project.pk}/review/"))
        assert_escaped(page)
        assert_escaped(page, IMAGE, ESCAPED_IMAGE)

    def test_flag_search_compare_and_flag_page(self, team: Team, hostile: Example) -> None:
        other = written(team.project, team.reviewer, f"{SCRIPT} again", "exchange_rate")
        client = logged_in(team.annotator)
        search = text(client.get(f"/examples/{hostile.pk}/flag/"))
        assert_escaped(search)
        assert f'value="{ESCAPED}"' in search
        assert_escaped(text(client.get(f"/examples/{hostile.pk}/flag/", {"q": SCRIPT}, **HTMX)))
        compare = text(client.get(f"/examples/{hostile.pk}/flag/compare/?other={other.pk}"))
        assert_escaped(compare)
        assert f"{ESCAPED}<ins> again</ins>" in compare
        response = client.post(f"/examples/{hostile.pk}/flag/compare/", {"other": other.pk, "note": IMAGE})
        flag_page = text(client.get(response["Location"]))
        assert_escaped(flag_page)
        assert_escaped(flag_page, IMAGE, ESCAPED_IMAGE)
        flags = text(client.get(f"/projects/{team.project.pk}/flags/"))
        assert_escaped(flags, IMAGE, ESCAPED_IMAGE)

    def test_a_flag_on_one_example_lists_it_escaped(self, team: Team, hostile: Example) -> None:
        flag = flag_create(
            project=team.project, user=team.annotator, kind=FlagKind.PII, example_ids=[hostile.pk]
        )
        assert_escaped(text(logged_in(team.reviewer).get(f"/flags/{flag.pk}/")))

    def test_review_comments_and_resolution_notes(self, team: Team, hostile: Example) -> None:
        reviewed(hostile, team.reviewer, "request_changes", IMAGE)
        client = logged_in(team.annotator)
        my_work = text(client.get(f"/projects/{team.project.pk}/my-work/"))
        assert_escaped(my_work)
        assert_escaped(my_work, IMAGE, ESCAPED_IMAGE)
        example_page = text(client.get(f"/examples/{hostile.pk}/"))
        assert_escaped(example_page, IMAGE, ESCAPED_IMAGE)
        other = written(team.project, team.reviewer, "Plain", "exchange_rate")
        flag = flag_create(
            project=team.project,
            user=team.annotator,
            kind=FlagKind.CONTRADICTION,
            example_ids=[hostile.pk, other.pk],
        )
        reviewer = logged_in(team.reviewer)
        reviewer.post(f"/flags/{flag.pk}/", {"resolution": "keep_both", "note": IMAGE})
        assert_escaped(text(reviewer.get(f"/flags/{flag.pk}/")), IMAGE, ESCAPED_IMAGE)

    def test_error_messages_that_quote_user_text(self, team: Team) -> None:
        response = logged_in(team.lead).post(
            f"/projects/{team.project.pk}/members/", {"username": SCRIPT, "role": "annotator"}, follow=True
        )
        page = text(response)
        assert "There is no user named" in page
        assert_escaped(page)

    def test_the_write_form_keeps_typed_text_escaped(self, team: Team) -> None:
        response = logged_in(team.annotator).post(
            f"/projects/{team.project.pk}/write/", {"input": SCRIPT, "output": "", "submit": "1"}
        )
        assert "output must not be empty." in text(response)
        assert_escaped(text(response))

    def test_project_text_set_by_a_lead(self, team: Team) -> None:
        team.project.name = SCRIPT
        team.project.target_behavior = IMAGE
        team.project.save()
        written(team.project, team.annotator, "Hello", "card_arrival", status=ExampleStatus.DRAFT)
        client = logged_in(team.lead)
        for url in ("/", f"/projects/{team.project.pk}/", f"/projects/{team.project.pk}/write/"):
            page = text(client.get(url))
            assert_escaped(page)
            assert IMAGE not in page
