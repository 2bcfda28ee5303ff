"""Write (a form per task type), edit with conflicts, and my work."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import User

from curation.models import Example, ExampleRevision, ExampleStatus, Project, Review, Role, TaskType
from tests.conftest import Team
from tests.curation.ui_support import edited, followed_text, logged_in, reviewed, text, written
from tests.factories import LABELS, MembershipFactory, ProjectFactory

SCHEMA = {
    "type": "object",
    "properties": {"amount": {"type": "number"}, "currency": {"type": "string"}},
    "required": ["amount", "currency"],
}


def project_of(task_type: str, annotator: User, **settings: object) -> Project:
    """A project of the task type with the annotator as a member."""
    defaults: dict[str, object] = {"task_type": task_type, "labels": []}
    defaults.update(settings)
    project = ProjectFactory.create(**defaults)
    MembershipFactory.create(project=project, user=annotator, role=Role.ANNOTATOR)
    return project


def write_url(project: Project) -> str:
    return f"/projects/{project.pk}/write/"


@pytest.mark.django_db
class TestWriteClassification:
    def test_the_form_offers_the_labels(self, team: Team) -> None:
        page = text(logged_in(team.annotator).get(write_url(team.project)))
        assert '<select name="output"' in page
        for label in LABELS:
            assert f'<option value="{label}">{label}</option>' in page
        assert team.project.target_behavior in page

    def test_submit_creates_a_submitted_example(self, team: Team) -> None:
        # Given an annotator on the write page
        client = logged_in(team.annotator)
        # When they submit an input with a label
        response = client.post(
            write_url(team.project), {"input": "My card never came", "output": "card_arrival", "submit": "1"}
        )
        # Then the example is stored as submitted, and the write page greets them again
        example = Example.objects.get()
        assert (example.input, example.output, example.status) == (
            "My card never came",
            "card_arrival",
            ExampleStatus.SUBMITTED,
        )
        assert example.created_by == team.annotator and example.source == "manual"
        assert response["Location"] == write_url(team.project)
        assert f"Example {example.pk} saved as submitted." in followed_text(client, response)

    def test_save_as_draft_may_leave_the_label_out(self, team: Team) -> None:
        client = logged_in(team.annotator)
        response = client.post(write_url(team.project), {"input": "Half done", "output": "", "draft": "1"})
        example = Example.objects.get()
        assert (example.status, example.output) == (ExampleStatus.DRAFT, "")
        assert f"Example {example.pk} saved as draft." in followed_text(client, response)

    def test_submit_without_a_label_shows_the_error_inline(self, team: Team) -> None:
        response = logged_in(team.annotator).post(
            write_url(team.project), {"input": "No label yet", "output": "", "submit": "1"}
        )
        assert response.status_code == 200
        page = text(response)
        assert '<p class="error">output must not be empty.</p>' in page
        assert "No label yet" in page  # what was typed is kept
        assert not Example.objects.exists()

    def test_a_label_outside_the_project_is_refused(self, team: Team) -> None:
        response = logged_in(team.annotator).post(
            write_url(team.project), {"input": "Hello", "output": "not_a_label", "submit": "1"}
        )
        assert response.status_code == 200
        assert "Select a valid choice" in text(response)
        assert not Example.objects.exists()

    def test_an_empty_input_is_refused_inline(self, team: Team) -> None:
        response = logged_in(team.annotator).post(
            write_url(team.project), {"input": "   ", "output": "card_arrival", "submit": "1"}
        )
        assert '<p class="error">input must not be empty.</p>' in text(response)
        assert not Example.objects.exists()

    def test_an_identical_example_is_refused_with_a_message(self, team: Team) -> None:
        first = written(team.project, team.reviewer, "Same words", "card_arrival")
        response = logged_in(team.annotator).post(
            write_url(team.project), {"input": "Same words", "output": "card_arrival", "submit": "1"}
        )
        assert response.status_code == 200
        assert f"An identical example already exists in this project (id {first.pk}, submitted)." in text(
            response
        )
        assert Example.objects.count() == 1


@pytest.mark.django_db
class TestWriteExtraction:
    @pytest.fixture
    def project(self, team: Team) -> Project:
        return project_of(TaskType.EXTRACTION, team.annotator, output_schema=SCHEMA)

    def test_the_form_has_a_json_field_checked_live_and_shows_the_schema(
        self, team: Team, project: Project
    ) -> None:
        page = text(logged_in(team.annotator).get(write_url(project)))
        assert 'class="json"' in page and 'name="output"' in page
        assert 'class="json-status' in page  # finch.js writes the live JSON check here
        assert "Output schema" in page and "&#x27;required&#x27;" in page
        assert '<select name="output"' not in page

    def test_a_schema_error_is_shown_inline(self, team: Team, project: Project) -> None:
        response = logged_in(team.annotator).post(
            write_url(project),
            {"input": "Paid 10 euros", "output": '{"amount": "ten", "currency": "EUR"}', "submit": "1"},
        )
        assert response.status_code == 200
        page = text(response)
        assert (
            'data-field-error="output">output does not match the project&#x27;s output_schema: at amount'
            in page
        )
        assert "&quot;ten&quot;" in page  # the JSON typed is kept in the field
        assert not Example.objects.exists()

    def test_a_missing_required_key_is_shown_inline(self, team: Team, project: Project) -> None:
        response = logged_in(team.annotator).post(
            write_url(project), {"input": "Paid 10", "output": '{"amount": 10}', "submit": "1"}
        )
        assert "output_schema: at (root): &#x27;currency&#x27; is a required property" in text(response)

    def test_invalid_json_is_shown_inline(self, team: Team, project: Project) -> None:
        response = logged_in(team.annotator).post(
            write_url(project), {"input": "Paid 10", "output": '{"amount": 10,', "submit": "1"}
        )
        assert 'data-field-error="output">output is not valid JSON' in text(response)
        assert not Example.objects.exists()

    @pytest.mark.parametrize(("button", "status"), [("submit", "submitted"), ("draft", "draft")])
    def test_valid_json_is_saved(self, team: Team, project: Project, button: str, status: str) -> None:
        output = '{"amount": 10, "currency": "EUR"}'
        response = logged_in(team.annotator).post(
            write_url(project), {"input": "Paid 10 euros", "output": output, button: "1"}
        )
        assert response.status_code == 302
        example = Example.objects.get()
        assert (example.status, json.loads(example.output)) == (status, {"amount": 10, "currency": "EUR"})

    def test_a_draft_is_still_checked_against_the_schema(self, team: Team, project: Project) -> None:
        response = logged_in(team.annotator).post(
            write_url(project), {"input": "Paid", "output": '{"amount": "x"}', "draft": "1"}
        )
        assert response.status_code == 200 and "output_schema" in text(response)
        assert not Example.objects.exists()


@pytest.mark.django_db
class TestWriteGeneration:
    @pytest.mark.parametrize(("button", "status"), [("submit", "submitted"), ("draft", "draft")])
    def test_free_text_is_saved(self, team: Team, button: str, status: str) -> None:
        project = project_of(TaskType.GENERATION, team.annotator)
        client = logged_in(team.annotator)
        page = text(client.get(write_url(project)))
        assert '<textarea name="output"' in page and '<select name="output"' not in page
        response = client.post(
            write_url(project), {"input": "Write a haiku", "output": "Autumn moonlight\n...", button: "1"}
        )
        assert response.status_code == 302
        example = Example.objects.get()
        assert (example.input, example.output, example.status) == (
            "Write a haiku",
            "Autumn moonlight\n...",
            status,
        )

    def test_submitting_without_output_is_refused(self, team: Team) -> None:
        project = project_of(TaskType.GENERATION, team.annotator)
        response = logged_in(team.annotator).post(
            write_url(project), {"input": "Write a haiku", "output": "", "submit": "1"}
        )
        assert '<p class="error">output must not be empty.</p>' in text(response)


@pytest.mark.django_db
class TestWriteChat:
    MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi there"}]

    @pytest.fixture
    def project(self, team: Team) -> Project:
        return project_of(TaskType.CHAT, team.annotator, system_prompt="You are a bank assistant.")

    def test_the_form_has_the_message_editor(self, team: Team, project: Project) -> None:
        page = text(logged_in(team.annotator).get(write_url(project)))
        assert 'class="chat-editor" data-target="id_messages"' in page
        assert '<input type="hidden" name="messages"' in page
        assert "Assistant reply" in page
        assert "System prompt: You are a bank assistant." in page

    @pytest.mark.parametrize(("button", "status"), [("submit", "submitted"), ("draft", "draft")])
    def test_messages_json_is_saved(self, team: Team, project: Project, button: str, status: str) -> None:
        response = logged_in(team.annotator).post(
            write_url(project), {"messages": json.dumps(self.MESSAGES), "output": "Hello!", button: "1"}
        )
        assert response.status_code == 302
        example = Example.objects.get()
        assert (example.input_value, example.output, example.status) == (self.MESSAGES, "Hello!", status)

    def test_a_bad_conversation_is_shown_under_the_messages(self, team: Team, project: Project) -> None:
        messages = [*self.MESSAGES, {"role": "assistant", "content": "Hello"}]
        response = logged_in(team.annotator).post(
            write_url(project), {"messages": json.dumps(messages), "output": "Bye", "submit": "1"}
        )
        assert response.status_code == 200
        assert '<p class="error">The last input message must be from the user' in text(response)
        assert not Example.objects.exists()

    def test_messages_that_are_not_json_are_refused(self, team: Team, project: Project) -> None:
        response = logged_in(team.annotator).post(
            write_url(project), {"messages": "[{not json", "output": "Bye", "submit": "1"}
        )
        assert response.status_code == 200
        assert "non-empty list of {role, content} messages" in text(response)
        assert not Example.objects.exists()

    def test_an_edit_keeps_the_messages(self, team: Team, project: Project) -> None:
        example = written(project, team.annotator, self.MESSAGES, "Hello!")
        client = logged_in(team.annotator)
        page = text(client.get(f"/examples/{example.pk}/"))
        assert "&quot;Hi there&quot;" in page  # the stored messages fill the hidden field
        changed = [*self.MESSAGES[:1], {"role": "user", "content": "Hi again"}]
        response = client.post(
            f"/examples/{example.pk}/",
            {"messages": json.dumps(changed), "output": "Hello!", "revision": "1", "save": "1"},
        )
        assert response.status_code == 302
        example.refresh_from_db()
        assert example.input_value == changed and example.revision == 2


def example_url(example: Example) -> str:
    return f"/examples/{example.pk}/"


@pytest.mark.django_db
class TestEdit:
    def test_an_edit_on_the_current_revision_is_saved_with_history(self, team: Team) -> None:
        # Given an example at revision 1
        example = written(team.project, team.annotator, "Where is my card?", "card_linking")
        client = logged_in(team.annotator)
        page = text(client.get(example_url(example)))
        assert 'name="revision" value="1"' in page
        # When its author changes it
        response = client.post(
            example_url(example),
            {"input": "Where is my new card?", "output": "card_arrival", "revision": "1", "save": "1"},
        )
        # Then it is saved as revision 2 and the history marks what changed
        assert response["Location"] == example_url(example)
        example.refresh_from_db()
        assert (example.input, example.output, example.revision) == (
            "Where is my new card?",
            "card_arrival",
            2,
        )
        assert example.status == ExampleStatus.SUBMITTED
        page = text(client.get(example_url(example)))
        assert f"Example {example.pk} saved as revision 2, submitted." in page
        assert "Where is my <ins>new </ins>card?" in page
        assert "<del>card_linking</del> <ins>card_arrival</ins>" in page
        assert "r2 · edited" in page and "r1 · created" in page

    def test_line_breaks_are_stored_as_typed_and_an_unchanged_multiline_save_saves_nothing(
        self, team: Team
    ) -> None:
        # Given a generation example with two lines, stored with LF as imports and the API store it
        project = project_of(TaskType.GENERATION, team.annotator)
        example = written(project, team.annotator, "Say hello\nin two lines", "Hello\nthere")
        client = logged_in(team.annotator)
        # When the form is saved as a browser sends it (CR LF), unchanged, then with an edit
        same = {
            "input": "Say hello\r\nin two lines",
            "output": "Hello\r\nthere",
            "revision": "1",
            "save": "1",
        }
        client.post(example_url(example), same)
        example.refresh_from_db()
        assert example.revision == 1
        client.post(example_url(example), {**same, "output": "Hello\r\nthere\r\nfriend"})
        # Then the edit is stored with LF line breaks
        example.refresh_from_db()
        assert (example.revision, example.input, example.output) == (
            2,
            "Say hello\nin two lines",
            "Hello\nthere\nfriend",
        )

    def test_saving_the_form_unchanged_saves_no_revision(self, team: Team) -> None:
        # Given an example at revision 1
        example = written(team.project, team.annotator, "Where is my card?", "card_linking")
        client = logged_in(team.annotator)
        # When its author saves the edit form without changing anything
        response = client.post(
            example_url(example),
            {"input": "Where is my card?", "output": "card_linking", "revision": "1", "save": "1"},
        )
        # Then they are back on the example, which is still revision 1 with no new history
        assert response["Location"] == example_url(example)
        example.refresh_from_db()
        assert example.revision == 1
        assert not ExampleRevision.objects.filter(example=example).exists()
        page = text(client.get(example_url(example)))
        assert 'name="revision" value="1"' in page and f"Nothing changed: example {example.pk}" in page

    def test_a_stale_revision_shows_the_conflict_and_does_not_overwrite(self, team: Team) -> None:
        # Given an annotator who opened the example at revision 1
        example = written(team.project, team.annotator, "Where is my card?", "card_linking")
        client = logged_in(team.annotator)
        client.get(example_url(example))
        # And a reviewer who changed it since
        edited(example, team.reviewer, output="card_arrival")
        # When the annotator saves their version of revision 1
        response = client.post(
            example_url(example),
            {"input": "My own rewrite", "output": "exchange_rate", "revision": "1", "submit": "1"},
        )
        # Then they see the conflict, with their text kept, and nothing is overwritten
        assert response.status_code == 200
        page = text(response)
        assert "This example changed since you read it: you sent revision 1, the current one is 2." in page
        assert "Your text is kept below" in page
        assert "My own rewrite" in page
        example.refresh_from_db()
        assert (example.input, example.output, example.revision) == ("Where is my card?", "card_arrival", 2)
        assert ExampleRevision.objects.filter(example=example).count() == 1

    def test_an_edit_without_a_revision_is_refused(self, team: Team) -> None:
        example = written(team.project, team.annotator, "Where is my card?", "card_linking")
        response = logged_in(team.annotator).post(
            example_url(example), {"input": "Changed", "output": "card_linking", "save": "1"}
        )
        assert response.status_code == 200
        assert "revision is required" in text(response)
        example.refresh_from_db()
        assert example.input == "Where is my card?"

    def test_a_refused_edit_shows_the_stored_example_not_the_refused_one(self, team: Team) -> None:
        # Given a draft, and another example with the content the annotator is about to type
        draft = written(team.project, team.annotator, "Draft text", "", status=ExampleStatus.DRAFT)
        written(team.project, team.reviewer, "Taken", "card_arrival")
        # When the annotator submits the draft with that content
        response = logged_in(team.annotator).post(
            example_url(draft), {"input": "Taken", "output": "card_arrival", "revision": "1", "submit": "1"}
        )
        # Then the error is shown and the page still describes the stored draft
        page = text(response)
        assert "An identical example already exists" in page
        assert "leave it for a reviewer to reject" in page  # a way out of an edit that cannot land
        assert '<span class="badge draft">Draft</span>' in page
        assert "<ins>Draft text</ins>" in page  # the history's current revision is what is stored
        draft.refresh_from_db()
        assert (draft.status, draft.input) == (ExampleStatus.DRAFT, "Draft text")


@pytest.mark.django_db
class TestMyWork:
    def test_lists_my_drafts_and_sent_back_examples_with_the_last_comment(self, team: Team) -> None:
        # Given the annotator's draft, an example sent back twice, one waiting, and a colleague's draft
        me = team.annotator
        draft = written(team.project, me, "My draft", "", status=ExampleStatus.DRAFT)
        sent_back = written(team.project, me, "Sent back", "card_linking")
        reviewed(sent_back, team.reviewer, "request_changes", "First remark.")
        edited(sent_back, me, output="exchange_rate", status=ExampleStatus.SUBMITTED)
        reviewed(sent_back, team.reviewer, "request_changes", "Use card_arrival.")
        waiting = written(team.project, me, "Waiting", "card_arrival")
        other = written(team.project, team.reviewer, "Colleague draft", "", status=ExampleStatus.DRAFT)
        # When the annotator opens my work
        page = text(logged_in(me).get(f"/projects/{team.project.pk}/my-work/"))
        # Then the draft and the sent-back example are listed, with the reviewer's last comment
        assert "My draft" in page and "Sent back" in page
        assert "Use card_arrival." in page and "First remark." not in page
        assert f'href="/examples/{sent_back.pk}/">Fix</a>' in page
        assert f'href="/examples/{draft.pk}/">Edit</a>' in page
        assert "Waiting" not in page and "Colleague draft" not in page
        assert f"/examples/{waiting.pk}/" not in page and f"/examples/{other.pk}/" not in page

    def test_fix_and_resubmit(self, team: Team) -> None:
        # Given an example a reviewer sent back
        example = written(team.project, team.annotator, "Card not here", "card_linking")
        reviewed(example, team.reviewer, "request_changes", "This is card_arrival.")
        example.refresh_from_db()
        client = logged_in(team.annotator)
        # When the author opens it, they see the comment
        page = text(client.get(example_url(example)))
        assert f"Sent back by {team.reviewer.username}: This is card_arrival." in page
        # And when they fix it and submit again
        response = client.post(
            example_url(example),
            {
                "input": "Card not here",
                "output": "card_arrival",
                "revision": str(example.revision),
                "submit": "1",
            },
        )
        # Then it is back in the review queue and out of my work
        assert response.status_code == 302
        example.refresh_from_db()
        assert (example.status, example.output) == (ExampleStatus.SUBMITTED, "card_arrival")
        page = text(client.get(f"/projects/{team.project.pk}/my-work/"))
        assert "Card not here" not in page and "Nothing waiting for you" in page
        review_page = text(logged_in(team.reviewer).get(f"/projects/{team.project.pk}/review/"))
        assert f'data-example="{example.pk}"' in review_page

    def test_save_keeps_a_draft_a_draft(self, team: Team) -> None:
        example = written(team.project, team.annotator, "Draft", "", status=ExampleStatus.DRAFT)
        logged_in(team.annotator).post(
            example_url(example), {"input": "Draft, longer", "output": "", "revision": "1", "save": "1"}
        )
        example.refresh_from_db()
        assert (example.status, example.input) == (ExampleStatus.DRAFT, "Draft, longer")

    def test_nothing_to_do(self, team: Team) -> None:
        page = text(logged_in(team.annotator).get(f"/projects/{team.project.pk}/my-work/"))
        assert "Nothing waiting for you." in page
        assert f'href="/projects/{team.project.pk}/write/">Write an example</a>' in page

    def test_reviews_on_the_example_page(self, team: Team) -> None:
        example = written(team.project, team.annotator, "Card?", "card_linking")
        reviewed(example, team.reviewer, "approve")
        page = text(logged_in(team.annotator).get(example_url(example)))
        assert '<span class="badge">approve</span>' in page and team.reviewer.username in page
        assert Review.objects.filter(example=example).count() == 1
