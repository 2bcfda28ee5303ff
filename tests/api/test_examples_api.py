"""Behaviour of the examples API: create per task type, list filters and paging, edits, history, reviews."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from curation.models import Example, ExampleStatus, Project, Review, Role, TaskType
from curation.services.content import content_hash
from curation.services.flags import flag_create
from tests.api.support import error_fields
from tests.conftest import Team
from tests.factories import ExampleFactory, MembershipFactory, ProjectFactory

if TYPE_CHECKING:
    from rest_framework.response import _MonkeyPatchedResponse as Response

pytestmark = pytest.mark.django_db

ClientFor = Callable[[User | None], APIClient]


EXAMPLE_FIELDS = {
    "id",
    "input",
    "output",
    "metadata",
    "external_id",
    "status",
    "revision",
    "source",
    "duplicate_of",
    "created_by",
    "created_at",
    "updated_at",
}
SCHEMA = {
    "type": "object",
    "properties": {"people": {"type": "integer"}, "time": {"type": "string"}},
    "required": ["people"],
    "additionalProperties": False,
}
CHAT = [
    {"role": "system", "content": "You are a concise banking assistant."},
    {"role": "user", "content": "Can I freeze my card?"},
]
QUERY_BOUND = 6  # token, project, role, page (+ one prefetch); an N+1 even at 5 rows exceeds it


def examples_url(project: Project) -> str:
    return f"/api/projects/{project.pk}/examples/"


def example_url(example_id: int) -> str:
    return f"/api/examples/{example_id}/"


def project_of(task_type: str, lead: User, **settings_: Any) -> Project:
    project = ProjectFactory.create(task_type=task_type, labels=settings_.pop("labels", []), **settings_)
    MembershipFactory.create(project=project, user=lead, role=Role.LEAD)
    return project


def ids(response: Response) -> list[int]:
    assert response.status_code == 200, response.content
    return [item["id"] for item in response.json()["results"]]


def make_examples(project: Project, n: int, **fields: Any) -> list[Example]:
    """n distinct valid classification examples, inserted in one statement."""
    rows = []
    for index in range(n):
        text = f"bulk message {index} for project {project.pk}"
        rows.append(
            Example(
                project=project,
                input=text,
                output="card_arrival",
                content_hash=content_hash(text, "card_arrival"),
                status=ExampleStatus.SUBMITTED,
                **fields,
            )
        )
    return Example.objects.bulk_create(rows)


class TestCreate:
    def test_classification_example_has_every_contract_field(self, team: Team, client_for: ClientFor) -> None:
        # Given a classification project and an annotator
        client = client_for(team.annotator)
        body = {
            "input": "My card still hasn't arrived",
            "output": "card_arrival",
            "metadata": {"origin": "ticket-17"},
            "external_id": "t-17",
            "status": "submitted",
        }

        # When the annotator creates an example
        response = client.post(examples_url(team.project), body, format="json")

        # Then it is 201 with exactly the contract's fields, as sent
        assert response.status_code == 201, response.content
        data = response.json()
        assert set(data) == EXAMPLE_FIELDS
        for key, value in body.items():
            assert data[key] == value
        assert data["revision"] == 1
        assert data["source"] == "api"
        assert data["duplicate_of"] is None
        assert data["created_by"] == team.annotator.username
        assert client.get(example_url(data["id"])).json() == data

    def test_default_status_is_draft_and_draft_may_lack_output(
        self, team: Team, client_for: ClientFor
    ) -> None:
        # Given an annotator
        client = client_for(team.annotator)

        # When they create an example with only an input
        response = client.post(examples_url(team.project), {"input": "half done"}, format="json")

        # Then it is a draft with an empty output
        assert response.status_code == 201, response.content
        assert (response.json()["status"], response.json()["output"]) == ("draft", "")

    def test_chat_input_round_trips_as_a_list(self, team: Team, client_for: ClientFor) -> None:
        # Given a chat project
        project = project_of(TaskType.CHAT, team.lead)
        client = client_for(team.lead)

        # When an example is created with a list of messages
        response = client.post(
            examples_url(project),
            {"input": CHAT, "output": "Yes, in the app under Card settings.", "status": "submitted"},
            format="json",
        )

        # Then the input comes back as the same list, on create and on read
        assert response.status_code == 201, response.content
        assert response.json()["input"] == CHAT
        assert client.get(example_url(response.json()["id"])).json()["input"] == CHAT
        listed = client.get(examples_url(project)).json()["results"]
        assert listed[0]["input"] == CHAT

    def test_chat_input_must_end_with_the_user(self, team: Team, client_for: ClientFor) -> None:
        # Given a chat project
        project = project_of(TaskType.CHAT, team.lead)

        # When the messages end with the assistant
        response = client_for(team.lead).post(
            examples_url(project),
            {"input": [*CHAT, {"role": "assistant", "content": "Sure."}], "output": "x"},
            format="json",
        )

        # Then it is refused naming input
        assert response.status_code == 400
        assert error_fields(response) == ["input"]

    def test_extraction_output_object_comes_back_as_json_text(
        self, team: Team, client_for: ClientFor
    ) -> None:
        # Given an extraction project with a schema
        project = project_of(TaskType.EXTRACTION, team.lead, output_schema=SCHEMA)
        document = {"people": 4, "time": "19:30"}

        # When an example's output is sent as an object
        response = client_for(team.lead).post(
            examples_url(project),
            {"input": "Table for four at half seven", "output": document, "status": "submitted"},
            format="json",
        )

        # Then the output comes back as a JSON string holding that object
        assert response.status_code == 201, response.content
        output = response.json()["output"]
        assert isinstance(output, str)
        assert json.loads(output) == document

    def test_extraction_output_against_the_schema(self, team: Team, client_for: ClientFor) -> None:
        # Given an extraction project with a schema that requires people
        project = project_of(TaskType.EXTRACTION, team.lead, output_schema=SCHEMA)

        # When the output misses a required property
        response = client_for(team.lead).post(
            examples_url(project),
            {"input": "Table at eight", "output": '{"time": "20:00"}', "status": "submitted"},
            format="json",
        )

        # Then it is refused naming output
        assert response.status_code == 400
        assert error_fields(response) == ["output"]
        assert "people" in response.json()["detail"]

    def test_generation_example(self, team: Team, client_for: ClientFor) -> None:
        # Given a generation project
        project = project_of(TaskType.GENERATION, team.lead)
        body = {
            "input": "Write a haiku about fees",
            "output": "Small fees, quiet ... ",
            "status": "submitted",
        }

        # When an example with free text is created
        response = client_for(team.lead).post(examples_url(project), body, format="json")

        # Then it is stored exactly as given (no trimming)
        assert response.status_code == 201, response.content
        assert (response.json()["input"], response.json()["output"]) == (body["input"], body["output"])

    def test_identical_content_is_refused_naming_the_existing_example(
        self, team: Team, client_for: ClientFor
    ) -> None:
        # Given an existing example
        client = client_for(team.annotator)
        body = {"input": "Where is my card?", "output": "card_arrival", "status": "submitted"}
        first = client.post(examples_url(team.project), body, format="json")
        assert first.status_code == 201

        # When the same content is sent again (only surrounding whitespace differs)
        again = client.post(
            examples_url(team.project), {**body, "input": "  Where is my card?\n"}, format="json"
        )

        # Then it is refused naming the existing id, and nothing new was stored
        assert again.status_code == 400
        error_fields(again)
        assert str(first.json()["id"]) in again.json()["detail"]
        assert team.project.examples.count() == 1

    def test_case_difference_is_not_identical(self, team: Team, client_for: ClientFor) -> None:
        # Given an existing example
        client = client_for(team.annotator)
        body = {"input": "Where is my card?", "output": "card_arrival"}
        assert client.post(examples_url(team.project), body, format="json").status_code == 201

        # When content that differs only in case is sent
        response = client.post(
            examples_url(team.project), {**body, "input": "where is my card?"}, format="json"
        )

        # Then it is a new example
        assert response.status_code == 201, response.content

    def test_duplicate_external_id_is_refused(self, team: Team, client_for: ClientFor) -> None:
        # Given an example with external_id row-1
        client = client_for(team.annotator)
        first = client.post(
            examples_url(team.project),
            {"input": "one", "output": "card_arrival", "external_id": "row-1"},
            format="json",
        )
        assert first.status_code == 201

        # When another example claims row-1
        second = client.post(
            examples_url(team.project),
            {"input": "two", "output": "card_arrival", "external_id": "row-1"},
            format="json",
        )

        # Then it is refused naming external_id
        assert second.status_code == 400
        assert error_fields(second) == ["external_id"]
        assert team.project.examples.count() == 1

    def test_annotator_cannot_create_approved_nor_reviewer_under_separation_of_duties_but_lead_can(
        self, team: Team, client_for: ClientFor
    ) -> None:
        # Given an annotator, a reviewer and a lead, in a project with separation of duties on
        body = {"input": "Lost my card", "output": "lost_or_stolen_card", "status": "approved"}

        # When each creates an example as approved
        by_annotator = client_for(team.annotator).post(examples_url(team.project), body, format="json")
        by_reviewer = client_for(team.reviewer).post(examples_url(team.project), body, format="json")
        by_lead = client_for(team.lead).post(examples_url(team.project), body, format="json")

        # Then the annotator and the reviewer are refused (403, naming the rule), the lead is not
        assert by_annotator.status_code == 403
        error_fields(by_annotator)
        assert by_reviewer.status_code == 403
        assert "Separation of duties" in by_reviewer.json()["detail"]
        assert by_lead.status_code == 201, by_lead.content
        assert by_lead.json()["status"] == "approved"
        assert team.project.examples.count() == 1


class TestListFilters:
    @pytest.fixture
    def examples(self, team: Team) -> dict[str, Example]:
        project = team.project
        named = {
            "draft": ExampleFactory.create(
                project=project, status=ExampleStatus.DRAFT, input="Card ordered, not here"
            ),
            "approved": ExampleFactory.create(
                project=project, status=ExampleStatus.APPROVED, source="import:csv"
            ),
            "flagged": ExampleFactory.create(project=project, input="What is the EXCHANGE rate today"),
            "resolved_flag": ExampleFactory.create(project=project),
            "original": ExampleFactory.create(project=project),
        }
        named["duplicate"] = ExampleFactory.create(project=project, duplicate_of=named["original"])
        flag_create(project=project, user=team.lead, kind="quality", example_ids=[named["flagged"].pk])
        closed = flag_create(
            project=project, user=team.lead, kind="pii", example_ids=[named["resolved_flag"].pk]
        )
        closed.status = "resolved"
        closed.save()
        ExampleFactory.create(
            project=ProjectFactory.create(), input="exchange rate elsewhere"
        )  # another project
        return named

    @pytest.mark.parametrize(
        ("query", "expected"),
        [
            ({"status": "draft"}, ["draft"]),
            ({"status": "approved"}, ["approved"]),
            ({"flagged": "true"}, ["flagged"]),
            ({"flagged": "false"}, ["draft", "approved", "resolved_flag", "original", "duplicate"]),
            ({"duplicate": "true"}, ["duplicate"]),
            ({"duplicate": "false"}, ["draft", "approved", "flagged", "resolved_flag", "original"]),
            ({"q": "exchange"}, ["flagged"]),
            ({"q": "not here"}, ["draft"]),
            ({"source": "import:csv"}, ["approved"]),
            (
                {"status": "submitted", "flagged": "false", "duplicate": "false"},
                ["resolved_flag", "original"],
            ),
        ],
    )
    def test_filters(
        self,
        team: Team,
        client_for: ClientFor,
        examples: dict[str, Example],
        query: dict[str, str],
        expected: list[str],
    ) -> None:
        # Given examples in different states (see the fixture)
        client = client_for(team.annotator)

        # When the list is filtered
        response = client.get(examples_url(team.project), query)

        # Then exactly the matching examples come back, newest first
        assert ids(response) == sorted((examples[name].pk for name in expected), reverse=True)

    def test_duplicate_of_is_shown(
        self, team: Team, client_for: ClientFor, examples: dict[str, Example]
    ) -> None:
        # Given an example marked as a duplicate
        # When it is read
        data = client_for(team.annotator).get(example_url(examples["duplicate"].pk)).json()

        # Then it names the example it duplicates
        assert data["duplicate_of"] == examples["original"].pk


class TestPaging:
    def test_next_link_walks_every_page_once(self, team: Team, client_for: ClientFor) -> None:
        # Given 23 examples
        created = make_examples(team.project, 23)
        client = client_for(team.annotator)

        # When the list is walked with page_size=5 following `next`
        seen: list[int] = []
        pages = 0
        url: str | None = f"{examples_url(team.project)}?page_size=5"
        while url:
            response = client.get(url)
            assert response.status_code == 200, response.content
            page = response.json()
            assert len(page["results"]) <= 5
            seen.extend(item["id"] for item in page["results"])
            url = page["next"]
            pages += 1
            assert pages <= 10, "pagination does not end"

        # Then every example came once, newest first, over five pages
        assert pages == 5
        assert seen == sorted((example.pk for example in created), reverse=True)

    def test_next_link_keeps_the_filters(self, team: Team, client_for: ClientFor) -> None:
        # Given 6 approved and 6 submitted examples
        approved = make_examples(team.project, 6)
        Example.objects.filter(pk__in=[example.pk for example in approved]).update(status="approved")
        ExampleFactory.create_batch(6, project=team.project)
        client = client_for(team.annotator)

        # When approved examples are paged four at a time
        first = client.get(examples_url(team.project), {"status": "approved", "page_size": "4"}).json()
        second = client.get(first["next"]).json()

        # Then the second page holds only the remaining approved examples
        assert [item["status"] for item in first["results"] + second["results"]] == ["approved"] * 6
        assert second["next"] is None

    def test_page_size_is_capped_at_1000(self, team: Team, client_for: ClientFor) -> None:
        # Given 1001 examples
        make_examples(team.project, 1001)

        # When more than 1000 are asked for at once
        response = client_for(team.annotator).get(examples_url(team.project), {"page_size": 5000})

        # Then one page holds 1000 and a next page exists
        assert response.status_code == 200
        assert len(response.json()["results"]) == 1000
        assert response.json()["next"] is not None

    @pytest.mark.parametrize("rows", [5, 50])
    def test_list_queries_do_not_grow_with_page_size(
        self, team: Team, client_for: ClientFor, django_assert_max_num_queries: Any, rows: int
    ) -> None:
        # Given many examples by a user, some flagged
        examples = make_examples(team.project, rows, created_by=team.annotator)
        for example in examples[:3]:
            flag_create(project=team.project, user=team.lead, kind="quality", example_ids=[example.pk])
        client = client_for(team.annotator)

        # When a page of `rows` examples is listed
        with django_assert_max_num_queries(QUERY_BOUND):
            response = client.get(examples_url(team.project), {"page_size": rows})

        # Then the queries stay under one bound whatever the page size
        assert len(response.json()["results"]) == rows
        assert {item["created_by"] for item in response.json()["results"]} == {team.annotator.username}


class TestEdit:
    def test_patch_with_current_revision_bumps_it(self, team: Team, client_for: ClientFor) -> None:
        # Given a submitted example at revision 1
        example = ExampleFactory.create(project=team.project)
        client = client_for(team.annotator)

        # When it is patched with revision 1
        response = client.patch(
            example_url(example.pk), {"revision": 1, "output": "card_linking"}, format="json"
        )

        # Then it is saved at revision 2
        assert response.status_code == 200, response.content
        assert (response.json()["revision"], response.json()["output"]) == (2, "card_linking")
        example.refresh_from_db()
        assert (example.revision, example.output) == (2, "card_linking")

    def test_patch_that_changes_nothing_keeps_the_revision_for_everyone(
        self, team: Team, client_for: ClientFor
    ) -> None:
        # Given an example at revision 2, read by two clients
        example = ExampleFactory.create(project=team.project)
        first, second = client_for(team.annotator), client_for(team.reviewer)
        first.patch(example_url(example.pk), {"revision": 1, "output": "card_linking"}, format="json")

        # When one of them patches it with its revision and nothing else, or with the same values
        bare = first.patch(example_url(example.pk), {"revision": 2}, format="json")
        same = first.patch(example_url(example.pk), {"revision": 2, "output": "card_linking"}, format="json")

        # Then nothing is saved: still revision 2, no new history, and the other client's edit lands
        assert (bare.status_code, same.status_code) == (200, 200)
        assert bare.json()["revision"] == same.json()["revision"] == 2
        history = first.get(f"{example_url(example.pk)}history/").json()["results"]
        assert [entry["revision"] for entry in history] == [2, 1]
        edit = second.patch(
            example_url(example.pk), {"revision": 2, "output": "exchange_rate"}, format="json"
        )
        assert edit.status_code == 200 and edit.json()["revision"] == 3

    def test_stale_revision_is_409_and_changes_nothing(self, team: Team, client_for: ClientFor) -> None:
        # Given an example that someone already edited to revision 2
        example = ExampleFactory.create(project=team.project)
        client = client_for(team.annotator)
        assert (
            client.patch(
                example_url(example.pk), {"revision": 1, "output": "card_linking"}, format="json"
            ).status_code
            == 200
        )

        # When another edit still carries revision 1
        response = client.patch(
            example_url(example.pk), {"revision": 1, "output": "exchange_rate"}, format="json"
        )

        # Then it is refused with 409 naming revision, and the first edit stands
        assert response.status_code == 409
        assert error_fields(response) == ["revision"]
        example.refresh_from_db()
        assert (example.revision, example.output) == (2, "card_linking")

    def test_missing_revision_is_409(self, team: Team, client_for: ClientFor) -> None:
        # Given an example
        example = ExampleFactory.create(project=team.project)

        # When it is patched without a revision
        response = client_for(team.annotator).patch(
            example_url(example.pk), {"output": "card_linking"}, format="json"
        )

        # Then it is refused with 409 and not changed
        assert response.status_code == 409
        assert error_fields(response) == ["revision"]
        example.refresh_from_db()
        assert (example.revision, example.output) == (1, "card_arrival")

    def test_history_keeps_every_revision_newest_first(self, team: Team, client_for: ClientFor) -> None:
        # Given an example created through the API and edited twice
        client = client_for(team.annotator)
        created = client.post(
            examples_url(team.project), {"input": "first words", "output": "card_arrival"}, format="json"
        ).json()
        client.patch(example_url(created["id"]), {"revision": 1, "input": "second words"}, format="json")
        client.patch(
            example_url(created["id"]),
            {"revision": 2, "output": "card_linking", "status": "submitted"},
            format="json",
        )

        # When its history is read
        response = client.get(f"{example_url(created['id'])}history/")

        # Then all three versions are there, newest first, with the old content kept
        assert response.status_code == 200
        history = response.json()["results"]
        assert [entry["revision"] for entry in history] == [3, 2, 1]
        assert [(entry["input"], entry["output"], entry["status"]) for entry in history] == [
            ("second words", "card_linking", "submitted"),
            ("second words", "card_arrival", "draft"),
            ("first words", "card_arrival", "draft"),
        ]
        assert [entry["change"] for entry in history] == ["edited", "edited", "created"]
        assert {entry["changed_by"] for entry in history} == {team.annotator.username}

    def test_chat_history_shows_input_as_messages(self, team: Team, client_for: ClientFor) -> None:
        # Given a chat example whose input was edited
        project = project_of(TaskType.CHAT, team.lead)
        client = client_for(team.lead)
        created = client.post(examples_url(project), {"input": CHAT, "output": "Yes."}, format="json").json()
        newer = [CHAT[1]]
        client.patch(example_url(created["id"]), {"revision": 1, "input": newer}, format="json")

        # When its history is read
        history = client.get(f"{example_url(created['id'])}history/").json()["results"]

        # Then every version's input is a list of messages
        assert [entry["input"] for entry in history] == [newer, CHAT]

    def test_annotator_editing_approved_content_sends_it_back(
        self, team: Team, client_for: ClientFor
    ) -> None:
        # Given an approved example
        example = ExampleFactory.create(project=team.project, status=ExampleStatus.APPROVED)

        # When an annotator changes its output
        response = client_for(team.annotator).patch(
            example_url(example.pk), {"revision": 1, "output": "card_linking"}, format="json"
        )

        # Then it is saved and goes back to submitted
        assert response.status_code == 200, response.content
        assert response.json()["status"] == "submitted"
        example.refresh_from_db()
        assert example.status == ExampleStatus.SUBMITTED

    @pytest.mark.parametrize(("editor", "status"), [("lead", "approved"), ("reviewer", "submitted")])
    def test_an_edit_of_approved_content_stays_approved_only_for_a_lead(
        self, team: Team, client_for: ClientFor, editor: str, status: str
    ) -> None:
        # Given an approved example, and separation of duties on
        example = ExampleFactory.create(project=team.project, status=ExampleStatus.APPROVED)

        # When a lead or a reviewer changes its output
        response = client_for(team.user(editor)).patch(
            example_url(example.pk), {"revision": 1, "output": "card_linking"}, format="json"
        )

        # Then the lead's edit stays approved; the reviewer's goes to another's review
        assert response.status_code == 200, response.content
        assert response.json()["status"] == status

    @pytest.mark.parametrize("status", ["draft", "submitted"])
    def test_author_statuses_can_be_set(self, team: Team, client_for: ClientFor, status: str) -> None:
        # Given a needs_changes example
        example = ExampleFactory.create(project=team.project, status=ExampleStatus.NEEDS_CHANGES)

        # When its status is set to an author status
        response = client_for(team.annotator).patch(
            example_url(example.pk), {"revision": 1, "status": status}, format="json"
        )

        # Then it takes that status
        assert response.status_code == 200, response.content
        assert response.json()["status"] == status

    @pytest.mark.parametrize("status", ["approved", "rejected", "needs_changes"])
    def test_review_statuses_cannot_be_set_by_patch(
        self, team: Team, client_for: ClientFor, status: str
    ) -> None:
        # Given a submitted example
        example = ExampleFactory.create(project=team.project)

        # When even a lead sets a review status through PATCH
        response = client_for(team.lead).patch(
            example_url(example.pk), {"revision": 1, "status": status}, format="json"
        )

        # Then it is refused naming status and nothing changes
        assert response.status_code == 400
        assert error_fields(response) == ["status"]
        example.refresh_from_db()
        assert (example.status, example.revision) == (ExampleStatus.SUBMITTED, 1)

    def test_edit_into_an_existing_example_is_refused(self, team: Team, client_for: ClientFor) -> None:
        # Given two examples
        kept = ExampleFactory.create(project=team.project, input="same words", output="card_arrival")
        other = ExampleFactory.create(project=team.project, input="other words", output="card_arrival")

        # When one is edited to the other's content
        response = client_for(team.annotator).patch(
            example_url(other.pk), {"revision": 1, "input": "same words"}, format="json"
        )

        # Then it is refused naming the existing example, and nothing was saved
        assert response.status_code == 400
        assert str(kept.pk) in response.json()["detail"]
        other.refresh_from_db()
        assert (other.input, other.revision) == ("other words", 1)


class TestReviews:
    @pytest.mark.parametrize(
        ("decision", "status"),
        [("approve", "approved"), ("reject", "rejected"), ("request_changes", "needs_changes")],
    )
    def test_status_follows_the_decision(
        self, team: Team, client_for: ClientFor, decision: str, status: str
    ) -> None:
        # Given a submitted example
        example = ExampleFactory.create(project=team.project)
        client = client_for(team.reviewer)

        # When a reviewer decides on it
        response = client.post(
            f"{example_url(example.pk)}reviews/", {"decision": decision, "comment": "Because."}, format="json"
        )

        # Then the review is recorded for revision 1 and the example takes the status
        assert response.status_code == 201, response.content
        assert response.json()["decision"] == decision
        assert response.json()["reviewer"] == team.reviewer.username
        assert response.json()["revision"] == 1
        assert response.json()["example_status"] == status
        data = client.get(example_url(example.pk)).json()
        assert (data["status"], data["revision"]) == (status, 2)
        listed = client.get(f"{example_url(example.pk)}reviews/").json()["results"]
        assert [item["decision"] for item in listed] == [decision]

    def test_request_changes_needs_a_comment(self, team: Team, client_for: ClientFor) -> None:
        # Given a submitted example
        example = ExampleFactory.create(project=team.project)

        # When changes are requested without saying which
        response = client_for(team.reviewer).post(
            f"{example_url(example.pk)}reviews/",
            {"decision": "request_changes", "comment": "  "},
            format="json",
        )

        # Then it is refused naming comment, and the example is untouched
        assert response.status_code == 400
        assert error_fields(response) == ["comment"]
        example.refresh_from_db()
        assert example.status == ExampleStatus.SUBMITTED
        assert not Review.objects.exists()

    def test_an_example_whose_label_was_removed_since_is_not_approved_but_may_be_rejected(
        self, team: Team, client_for: ClientFor
    ) -> None:
        # Given a submitted example whose label the lead removed since ("Save anyway")
        example = ExampleFactory.create(project=team.project, output=team.project.labels[0])
        team.project.labels = team.project.labels[1:]
        team.project.save(update_fields=["labels"])
        client = client_for(team.reviewer)

        # When a reviewer approves it, then rejects it
        approved = client.post(f"{example_url(example.pk)}reviews/", {"decision": "approve"}, format="json")
        rejected = client.post(f"{example_url(example.pk)}reviews/", {"decision": "reject"}, format="json")

        # Then the approval is refused naming what no longer fits; the rejection is taken
        assert approved.status_code == 400 and error_fields(approved) == ["decision"]
        assert "is not one of the project's labels" in approved.json()["errors"][0]["message"]
        assert rejected.status_code == 201
        example.refresh_from_db()
        assert example.status == ExampleStatus.REJECTED

    def test_a_draft_cannot_be_reviewed(self, team: Team, client_for: ClientFor) -> None:
        # Given a draft
        example = ExampleFactory.create(project=team.project, status=ExampleStatus.DRAFT)

        # When a reviewer approves it
        response = client_for(team.reviewer).post(
            f"{example_url(example.pk)}reviews/", {"decision": "approve"}, format="json"
        )

        # Then it is refused and stays a draft
        assert response.status_code == 400
        error_fields(response)
        example.refresh_from_db()
        assert example.status == ExampleStatus.DRAFT

    def test_review_of_a_stale_revision_is_409(self, team: Team, client_for: ClientFor) -> None:
        # Given an example edited since the reviewer read revision 1
        example = ExampleFactory.create(project=team.project)
        client_for(team.annotator).patch(
            example_url(example.pk), {"revision": 1, "output": "card_linking"}, format="json"
        )

        # When the reviewer approves revision 1
        response = client_for(team.reviewer).post(
            f"{example_url(example.pk)}reviews/", {"decision": "approve", "revision": 1}, format="json"
        )

        # Then it is refused with 409 and the example is not approved
        assert response.status_code == 409
        assert error_fields(response) == ["revision"]
        example.refresh_from_db()
        assert example.status == ExampleStatus.SUBMITTED
        assert not Review.objects.exists()

    def test_review_of_the_current_revision_is_accepted(self, team: Team, client_for: ClientFor) -> None:
        # Given an example at revision 2
        example = ExampleFactory.create(project=team.project)
        client_for(team.annotator).patch(
            example_url(example.pk), {"revision": 1, "output": "card_linking"}, format="json"
        )

        # When the reviewer approves revision 2
        response = client_for(team.reviewer).post(
            f"{example_url(example.pk)}reviews/", {"decision": "approve", "revision": 2}, format="json"
        )

        # Then the review is tied to revision 2
        assert response.status_code == 201, response.content
        assert response.json()["revision"] == 2


class TestSeparationOfDuties:
    def test_a_reviewer_approving_their_own_example_gets_403_naming_the_rule(
        self, team: Team, client_for: ClientFor
    ) -> None:
        # Given an example the reviewer wrote and submitted
        written = client_for(team.reviewer).post(
            examples_url(team.project),
            {"input": "Card late?", "output": "card_arrival", "status": "submitted"},
            format="json",
        )
        example_id = written.json()["id"]

        # When they approve it
        response = client_for(team.reviewer).post(
            f"{example_url(example_id)}reviews/", {"decision": "approve", "revision": 1}, format="json"
        )

        # Then it is refused naming the rule, and a lead may approve it
        assert response.status_code == 403
        assert "Separation of duties" in response.json()["detail"]
        assert error_fields(response) == ["decision"]
        by_lead = client_for(team.lead).post(
            f"{example_url(example_id)}reviews/", {"decision": "approve", "revision": 1}, format="json"
        )
        assert by_lead.status_code == 201, by_lead.content

    def test_the_setting_is_in_the_project_detail_and_leads_change_it(
        self, team: Team, client_for: ClientFor
    ) -> None:
        url = f"/api/projects/{team.project.pk}/"
        assert client_for(team.lead).get(url).json()["reviewers_may_not_review_own"] is True
        response = client_for(team.lead).patch(url, {"reviewers_may_not_review_own": False}, format="json")
        assert response.status_code == 200, response.content
        assert response.json()["reviewers_may_not_review_own"] is False
        team.project.refresh_from_db()
        assert team.project.reviewers_may_not_review_own is False


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["examples/", "examples/export/"])
def test_a_misspelled_filter_is_refused_not_ignored(team: Team, client_for: Any, path: str) -> None:
    # A typo in a scripted export (stauts=approved) used to stream the whole project
    response = client_for(team.lead).get(f"/api/projects/{team.project.pk}/{path}", {"stauts": "approved"})

    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "stauts"
    assert "not a parameter of this list" in response.json()["detail"]
