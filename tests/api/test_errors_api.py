"""Bad input is refused with a 4xx that names the problem, in one body shape, and never a 500.

Also: the OpenAPI schema describes every path of the contract (API.md) that is served.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest
from django.contrib.auth.models import User
from django.urls import Resolver404, resolve
from rest_framework.test import APIClient

from curation.models import Example, Flag, Project, Role, TaskType
from tests.conftest import Team
from tests.factories import ExampleFactory, MembershipFactory, ProjectFactory

if TYPE_CHECKING:
    from rest_framework.response import _MonkeyPatchedResponse as Response

pytestmark = pytest.mark.django_db

ClientFor = Callable[[User | None], APIClient]


SCHEMA = {"type": "object", "properties": {"people": {"type": "integer"}}, "required": ["people"]}

# Every method and path that API.md promises, as written there.
CONTRACT = """
POST /api/auth/token/
POST /api/projects/
GET /api/projects/
GET /api/projects/{id}/
POST /api/projects/{id}/members/
GET /api/projects/{id}/examples/
POST /api/projects/{id}/examples/
GET /api/examples/{id}/
PATCH /api/examples/{id}/
GET /api/examples/{id}/history/
POST /api/examples/{id}/reviews/
POST /api/projects/{id}/imports/
GET /api/imports/{id}/
POST /api/projects/{id}/flags/
GET /api/projects/{id}/flags/
POST /api/flags/{id}/resolve/
POST /api/projects/{id}/dedup-jobs/
GET /api/dedup-jobs/{id}/
GET /api/dedup-jobs/{id}/clusters/
POST /api/projects/{id}/contradiction-jobs/
POST /api/clusters/{id}/keep/
POST /api/clusters/{id}/dissolve/
POST /api/projects/{id}/versions/
GET /api/versions/{id}/
GET /api/versions/{id}/export/
GET /api/versions/{id}/diff/{other_id}/
POST /api/training-runs/
GET /api/training-runs/{id}/
POST /api/training-runs/{id}/cancel/
POST /api/eval-runs/
GET /api/eval-runs/{id}/
GET /api/eval-runs/{id}/predictions/
POST /api/comparisons/
POST /api/deployments/
POST /api/deployments/{id}/samples/
GET /api/deployments/{id}/drift/
"""
SERVED_NOW = {
    "/api/auth/token/",
    "/api/projects/",
    "/api/projects/{}/",
    "/api/projects/{}/members/",
    "/api/projects/{}/examples/",
    "/api/examples/{}/",
    "/api/examples/{}/history/",
    "/api/examples/{}/reviews/",
    "/api/projects/{}/flags/",
    "/api/flags/{}/resolve/",
}


def errors_of(response: Response) -> list[dict[str, Any]]:
    """The errors of a Finch error body, after checking it has exactly the documented shape."""
    assert response["Content-Type"].startswith("application/json"), response.content[:300]
    body = response.json()
    assert set(body) == {"errors", "detail"}, body
    assert isinstance(body["errors"], list) and body["errors"], body
    for error in body["errors"]:
        assert set(error) == {"field", "code", "message"}, error
        assert error["field"] is None or isinstance(error["field"], str)
        assert isinstance(error["code"], str) and error["code"]
        assert isinstance(error["message"], str) and error["message"]
    assert isinstance(body["detail"], str) and body["detail"] == body["errors"][0]["message"]
    return list(body["errors"])


def _names(error_field: str | None, expected: str) -> bool:
    """True if an error's field is the expected one, or an item of it (`examples.0`)."""
    return error_field is not None and (error_field == expected or error_field.startswith(f"{expected}."))


def fields_of(response: Response) -> list[str | None]:
    return [error["field"] for error in errors_of(response)]


def project_of(task_type: str, lead: User, **settings_: Any) -> Project:
    project = ProjectFactory.create(task_type=task_type, labels=settings_.pop("labels", []), **settings_)
    MembershipFactory.create(project=project, user=lead, role=Role.LEAD)
    return project


@pytest.fixture
def lead(team: Team, client_for: ClientFor) -> APIClient:
    """The lead's client, answering 500s as responses so that tests can assert on them."""
    client = client_for(team.lead)
    client.raise_request_exception = False
    return client


# --- The request that fails, and how -------------------------------------------------------------


@dataclass
class Case:
    method: str
    path: str  # {project}, {example}, {flag} are filled in
    status: int
    field: str | None = None  # the field the errors must name; None: any
    body: Any = None
    raw: str | None = None  # a raw JSON body, sent as is
    query: dict[str, str] = dataclasses.field(default_factory=dict)
    says: str = ""  # a phrase the detail must contain


CASES = {
    "malformed json": Case(
        "POST", "/api/projects/{project}/examples/", 400, raw='{"input": "x",', says="JSON"
    ),
    "json array body": Case("POST", "/api/projects/{project}/examples/", 400, raw="[1, 2]"),
    "json null body": Case("POST", "/api/projects/{project}/examples/", 400, raw="null"),
    "labels as a string": Case(
        "POST",
        "/api/projects/",
        400,
        "labels",
        {"name": "x", "task_type": "classification", "target_behavior": "t", "labels": "yes,no"},
    ),
    "unknown task_type": Case(
        "POST",
        "/api/projects/",
        400,
        "task_type",
        {"name": "x", "task_type": "vision", "target_behavior": "t"},
    ),
    "blank project name": Case(
        "POST",
        "/api/projects/",
        400,
        "name",
        {"name": "  ", "task_type": "generation", "target_behavior": "t"},
    ),
    "invalid output_schema": Case(
        "POST",
        "/api/projects/",
        400,
        "output_schema",
        {
            "name": "x",
            "task_type": "extraction",
            "target_behavior": "t",
            "output_schema": {"type": "nonsense"},
        },
    ),
    "duplicate labels": Case("PATCH", "/api/projects/{project}/", 400, "labels", {"labels": ["a", "b", "a"]}),
    "unknown field on project": Case("PATCH", "/api/projects/{project}/", 400, "colour", {"colour": "red"}),
    "unknown field on example": Case(
        "POST", "/api/projects/{project}/examples/", 400, "inptu", {"inptu": "x", "output": "card_arrival"}
    ),
    "unknown field on patch": Case(
        "PATCH", "/api/examples/{example}/", 400, "text", {"revision": 1, "text": "x"}
    ),
    "input as a number": Case("POST", "/api/projects/{project}/examples/", 400, "input", {"input": 42}),
    "input missing": Case(
        "POST", "/api/projects/{project}/examples/", 400, "input", {"output": "card_arrival"}
    ),
    "input blank": Case("POST", "/api/projects/{project}/examples/", 400, "input", {"input": "   "}),
    "unknown label": Case(
        "POST",
        "/api/projects/{project}/examples/",
        400,
        "output",
        {"input": "hi", "output": "card_arival"},
        says="card_arival",
    ),
    "submitted without output": Case(
        "POST", "/api/projects/{project}/examples/", 400, "output", {"input": "hi", "status": "submitted"}
    ),
    "unknown status": Case(
        "POST", "/api/projects/{project}/examples/", 400, "status", {"input": "hi", "status": "done"}
    ),
    "metadata not an object": Case(
        "POST", "/api/projects/{project}/examples/", 400, "metadata", {"input": "hi", "metadata": ["a"]}
    ),
    "revision not a number": Case(
        "PATCH", "/api/examples/{example}/", 400, "revision", {"revision": "latest", "output": "card_linking"}
    ),
    "examples as strings": Case(
        "POST", "/api/projects/{project}/flags/", 400, "examples", {"kind": "quality", "examples": ["a", "b"]}
    ),
    "examples empty": Case(
        "POST", "/api/projects/{project}/flags/", 400, "examples", {"kind": "quality", "examples": []}
    ),
    "unknown flag kind": Case(
        "POST", "/api/projects/{project}/flags/", 400, "kind", {"kind": "spam", "examples": ["{example}"]}
    ),
    "unknown decision": Case(
        "POST", "/api/examples/{example}/reviews/", 400, "decision", {"decision": "maybe"}
    ),
    "unknown role": Case(
        "POST", "/api/projects/{project}/members/", 400, "role", {"username": "someone", "role": "boss"}
    ),
    "flagged=maybe": Case(
        "GET", "/api/projects/{project}/examples/", 400, "flagged", query={"flagged": "maybe"}
    ),
    "duplicate=sometimes": Case(
        "GET", "/api/projects/{project}/examples/", 400, "duplicate", query={"duplicate": "sometimes"}
    ),
    "status=nope": Case("GET", "/api/projects/{project}/examples/", 400, "status", query={"status": "nope"}),
    "flag status=nope": Case(
        "GET", "/api/projects/{project}/flags/", 400, "status", query={"status": "nope"}
    ),
    "flag kind=nope": Case("GET", "/api/projects/{project}/flags/", 400, "kind", query={"kind": "nope"}),
    "raised_by=robot": Case(
        "GET", "/api/projects/{project}/flags/", 400, "raised_by", query={"raised_by": "robot"}
    ),
    "unsupported media type": Case("POST", "/api/projects/{project}/examples/", 415, raw=None, body="plain"),
    "method not allowed": Case("PUT", "/api/projects/{project}/", 405, body={}),
    "no such project": Case("GET", "/api/projects/999999/", 404),
    "no such example": Case("GET", "/api/examples/999999/", 404),
    "stale revision": Case("PATCH", "/api/examples/{example}/", 409, "revision", {"revision": 7}),
}


def send(client: APIClient, case: Case, ids: dict[str, int]) -> Response:
    def fill(value: Any) -> Any:
        if isinstance(value, str):
            filled = value.format(**ids)
            return int(filled) if value.startswith("{") and filled.isdigit() else filled
        if isinstance(value, list):
            return [fill(item) for item in value]
        if isinstance(value, dict):
            return {key: fill(item) for key, item in value.items()}
        return value

    path = case.path.format(**ids)
    call = getattr(client, case.method.lower())
    if case.method == "GET":
        return call(path, case.query)
    if case.raw is not None:
        return call(path, data=case.raw, content_type="application/json")
    if case.body == "plain":
        return call(path, data="input=hi", content_type="text/plain")
    return call(path, fill(case.body), format="json")


class TestErrorCatalogue:
    @pytest.mark.parametrize("name", list(CASES))
    def test_refused_with_the_standard_body_naming_the_field(
        self, team: Team, lead: APIClient, name: str
    ) -> None:
        # Given a classification project with a submitted example, and the lead's client
        case = CASES[name]
        example = ExampleFactory.create(project=team.project)
        ids = {"project": team.project.pk, "example": example.pk}
        before = (Project.objects.count(), Example.objects.count(), Flag.objects.count())

        # When the bad request is sent
        response = send(lead, case, ids)

        # Then it is refused with the expected status, one body shape, naming the field
        assert response.status_code == case.status, response.content[:500]
        errors = errors_of(response)
        if case.field is not None:
            named = [error for error in errors if _names(error["field"], case.field)]
            assert named, errors
            assert case.field in named[0]["message"]
        if case.says:
            assert case.says in response.json()["detail"]
        # and nothing was written
        assert (Project.objects.count(), Example.objects.count(), Flag.objects.count()) == before
        example.refresh_from_db()
        assert example.revision == 1

    def test_unauthenticated_is_401_with_the_standard_body(self, team: Team) -> None:
        # When a request comes without credentials
        response = APIClient().get(f"/api/projects/{team.project.pk}/examples/")

        # Then it is 401 in the standard body
        assert response.status_code == 401
        errors_of(response)

    def test_bad_token_is_401(self, team: Team) -> None:
        # When a request carries a token that does not exist
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION="Token " + "0" * 40)
        response = client.get("/api/projects/")

        # Then it is 401 in the standard body
        assert response.status_code == 401
        errors_of(response)

    def test_forbidden_is_403_with_the_standard_body(self, team: Team, client_for: ClientFor) -> None:
        # When an annotator runs a lead's job
        response = client_for(team.annotator).post(f"/api/projects/{team.project.pk}/validation-jobs/")

        # Then it is 403 in the standard body
        assert response.status_code == 403
        errors_of(response)


class TestParseErrors:
    def test_malformed_json_names_the_parse_problem(self, team: Team, lead: APIClient) -> None:
        # When the body is cut off mid-object
        response = lead.post(
            f"/api/projects/{team.project.pk}/examples/",
            data='{"input": "hi", "output": ',
            content_type="application/json",
        )

        # Then the error says the body is not valid JSON, and where
        assert response.status_code == 400
        (error,) = errors_of(response)
        assert error["code"] == "parse_error"
        assert "JSON parse error" in error["message"]
        assert re.search(r"line \d+ column \d+", error["message"]), error["message"]

    def test_nan_is_not_json(self, team: Team, lead: APIClient) -> None:
        # When the body uses NaN, which JSON does not have
        response = lead.post(
            f"/api/projects/{team.project.pk}/examples/",
            data='{"input": "hi", "metadata": {"score": NaN}}',
            content_type="application/json",
        )

        # Then it is refused as malformed
        assert response.status_code == 400
        assert errors_of(response)[0]["code"] == "parse_error"

    def test_deeply_nested_json_is_400_not_500(self, team: Team, lead: APIClient) -> None:
        # When the body nests arrays far deeper than any parser recursion allows (but is small)
        depth = 100_000
        body = '{"input": "hi", "metadata": {"a": ' + "[" * depth + "]" * depth + "}}"

        # Then it is refused as bad input
        response = lead.post(
            f"/api/projects/{team.project.pk}/examples/", data=body, content_type="application/json"
        )
        assert response.status_code == 400, response.content[:300]
        errors_of(response)
        assert not Example.objects.exists()

    def test_deeply_nested_json_to_the_token_endpoint_is_400_not_500(self) -> None:
        # The token endpoint takes no token, so anyone could send it this
        depth = 100_000
        response = APIClient().post(
            "/api/auth/token/", data="[" * depth + "]" * depth, content_type="application/json"
        )
        assert response.status_code == 400, response.content[:300]
        assert errors_of(response)[0]["code"] == "parse_error"


class TestContent:
    def test_invalid_extraction_json_is_400(self, team: Team, lead: APIClient) -> None:
        # Given an extraction project
        project = project_of(TaskType.EXTRACTION, team.lead, output_schema=SCHEMA)

        # When an output is not JSON at all
        response = lead.post(
            f"/api/projects/{project.pk}/examples/",
            {"input": "Table for two", "output": "{people: 2}", "status": "submitted"},
            format="json",
        )

        # Then it is refused naming output, saying it is not valid JSON
        assert response.status_code == 400
        assert fields_of(response) == ["output"]
        assert "not valid JSON" in response.json()["detail"]

    def test_extraction_schema_mismatch_names_the_path(self, team: Team, lead: APIClient) -> None:
        # Given an extraction project whose schema wants an integer
        project = project_of(TaskType.EXTRACTION, team.lead, output_schema=SCHEMA)

        # When people is a string
        response = lead.post(
            f"/api/projects/{project.pk}/examples/",
            {"input": "Table for two", "output": {"people": "two"}, "status": "submitted"},
            format="json",
        )

        # Then it is refused naming output and where in the document
        assert response.status_code == 400
        assert fields_of(response) == ["output"]
        assert "people" in response.json()["detail"]

    def test_chat_input_as_a_string_of_text_is_400(self, team: Team, lead: APIClient) -> None:
        # Given a chat project
        project = project_of(TaskType.CHAT, team.lead)

        # When the input is plain text instead of messages
        response = lead.post(f"/api/projects/{project.pk}/examples/", {"input": "hello"}, format="json")

        # Then it is refused naming input
        assert response.status_code == 400
        assert fields_of(response) == ["input"]

    @pytest.mark.parametrize(
        "message",
        [
            {"role": "user"},
            {"role": "robot", "content": "hi"},
            {"role": "user", "content": "hi", "name": "x"},
            {"role": "user", "content": ""},
            "hi",
        ],
    )
    def test_malformed_chat_messages_are_400(self, team: Team, lead: APIClient, message: Any) -> None:
        # Given a chat project
        project = project_of(TaskType.CHAT, team.lead)

        # When a message is malformed
        response = lead.post(f"/api/projects/{project.pk}/examples/", {"input": [message]}, format="json")

        # Then it is refused naming input
        assert response.status_code == 400
        assert fields_of(response) == ["input"]

    def test_generation_output_must_be_text(self, team: Team, lead: APIClient) -> None:
        # Given a generation project (only extraction takes an object as output, per API.md)
        project = project_of(TaskType.GENERATION, team.lead)

        # When the output is a JSON object
        response = lead.post(
            f"/api/projects/{project.pk}/examples/",
            {"input": "Say hi", "output": {"text": "hi"}},
            format="json",
        )

        # Then it is refused naming output
        assert response.status_code == 400, response.content
        assert fields_of(response) == ["output"]

    @pytest.mark.parametrize("where", ["input", "output"])
    def test_oversized_field_is_400(self, team: Team, lead: APIClient, settings: Any, where: str) -> None:
        # Given a small field limit, and a generation project
        settings.FINCH_MAX_FIELD_CHARS = 50
        project = project_of(TaskType.GENERATION, team.lead)
        body = {"input": "short", "output": "short", where: "x" * 51}

        # When a field is one character over
        response = lead.post(f"/api/projects/{project.pk}/examples/", body, format="json")
        at_limit = lead.post(
            f"/api/projects/{project.pk}/examples/", {**body, where: "y" * 50}, format="json"
        )

        # Then it is refused naming the field and the limit, while the limit itself is fine
        assert response.status_code == 400
        assert fields_of(response) == [where]
        assert "50" in response.json()["detail"]
        assert at_limit.status_code == 201, at_limit.content

    def test_oversized_chat_input_is_400(self, team: Team, lead: APIClient, settings: Any) -> None:
        # Given a small field limit and a chat project
        settings.FINCH_MAX_FIELD_CHARS = 50
        project = project_of(TaskType.CHAT, team.lead)

        # When the messages together are over the limit
        messages = [{"role": "user", "content": "z" * 60}]
        response = lead.post(f"/api/projects/{project.pk}/examples/", {"input": messages}, format="json")

        # Then it is refused naming input
        assert response.status_code == 400
        assert fields_of(response) == ["input"]

    def test_oversized_patch_is_400_and_keeps_the_example(
        self, team: Team, lead: APIClient, settings: Any
    ) -> None:
        # Given an example and a small field limit
        example = ExampleFactory.create(project=team.project)
        settings.FINCH_MAX_FIELD_CHARS = 50

        # When it is edited to an input over the limit
        response = lead.patch(
            f"/api/examples/{example.pk}/", {"revision": 1, "input": "q" * 51}, format="json"
        )

        # Then it is refused and unchanged
        assert response.status_code == 400
        assert fields_of(response) == ["input"]
        example.refresh_from_db()
        assert example.revision == 1

    def test_body_over_the_upload_limit_is_413(self, team: Team, lead: APIClient, settings: Any) -> None:
        # Given a small request body limit
        settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 200

        # When a JSON body is larger than that
        response = lead.post(
            f"/api/projects/{team.project.pk}/examples/",
            {"input": "w" * 1000, "output": "card_arrival"},
            format="json",
        )

        # Then it is 413 in the standard body, and nothing was stored
        assert response.status_code == 413
        assert errors_of(response)[0]["code"] == "too_large"
        assert not Example.objects.exists()


class TestNeverA500:
    """Odd but well-formed input must be refused (or handled), never crash the server."""

    @pytest.mark.parametrize("where", ["input", "output"])
    def test_nul_character_in_content(self, team: Team, lead: APIClient, where: str) -> None:
        # Given a generation project
        project = project_of(TaskType.GENERATION, team.lead)

        # When content holds a NUL character (PostgreSQL text cannot store it)
        body = {"input": "hi", "output": "there", where: "a\x00b"}
        response = lead.post(f"/api/projects/{project.pk}/examples/", body, format="json")

        # Then it is stored or refused naming the field, but not a 500
        assert response.status_code in (201, 400), response.content[:300]
        if response.status_code == 400:
            assert fields_of(response) == [where]

    def test_nul_character_in_metadata(self, team: Team, lead: APIClient) -> None:
        # When metadata holds a NUL character (PostgreSQL jsonb cannot store it)
        response = lead.post(
            f"/api/projects/{team.project.pk}/examples/",
            {"input": "hi", "metadata": {"note": "a\x00b"}},
            format="json",
        )

        # Then it is stored or refused naming metadata, but not a 500
        assert response.status_code in (201, 400), response.content[:300]
        if response.status_code == 400:
            assert fields_of(response) == ["metadata"]

    def test_a_backslash_before_u0000_in_metadata_is_text_not_a_nul(
        self, team: Team, lead: APIClient
    ) -> None:
        # When metadata holds the six characters \u0000 (a backslash, then u0000), and a real NUL
        text = lead.post(
            f"/api/projects/{team.project.pk}/examples/",
            {"input": "hi", "output": "card_arrival", "metadata": {"k": "a\\u0000b"}},
            format="json",
        )
        nul = lead.post(
            f"/api/projects/{team.project.pk}/examples/",
            {"input": "hello", "output": "card_arrival", "metadata": {"k": "a\x00b"}},
            format="json",
        )
        # Then the first is stored as written, the second refused naming metadata
        assert text.status_code == 201, text.content[:300]
        assert Example.objects.get(pk=text.json()["id"]).metadata == {"k": "a\\u0000b"}
        assert nul.status_code == 400 and fields_of(nul) == ["metadata"]

    def test_nul_character_in_output_schema(self, team: Team, lead: APIClient) -> None:
        # When a project's output_schema holds a NUL character
        response = lead.post(
            "/api/projects/",
            {
                "name": "x",
                "task_type": "extraction",
                "target_behavior": "t",
                "output_schema": {"type": "object", "title": "a\x00b"},
            },
            format="json",
        )

        # Then it is stored or refused naming output_schema, but not a 500
        assert response.status_code in (201, 400), response.content[:300]
        if response.status_code == 400:
            assert fields_of(response) == ["output_schema"]

    @pytest.mark.parametrize("param", ["q", "source", "created_by"])
    def test_nul_character_in_a_filter(self, team: Team, lead: APIClient, param: str) -> None:
        # When a list filter holds a NUL character
        response = lead.get(f"/api/projects/{team.project.pk}/examples/", {param: "a\x00b"})

        # Then it finds nothing or is refused naming the filter, but not a 500
        assert response.status_code in (200, 400), response.content[:300]
        if response.status_code == 200:
            assert response.json()["results"] == []
        else:
            assert fields_of(response) == [param]

    def test_nul_character_in_a_member_name(self, team: Team, lead: APIClient) -> None:
        # When a member whose name holds a NUL character is removed
        response = lead.delete(f"/api/projects/{team.project.pk}/members/a%00b/")

        # Then it is refused as no such member, not a 500
        assert response.status_code in (400, 404), response.content[:300]
        errors_of(response)

    @pytest.mark.parametrize("where", ["input", "output"])
    def test_lone_surrogate_in_content(self, team: Team, lead: APIClient, where: str) -> None:
        # Given a generation project
        project = project_of(TaskType.GENERATION, team.lead)

        # When content holds a lone UTF-16 surrogate (valid JSON escape, not encodable as UTF-8)
        fields = {"input": '"hi"', "output": '"there"', where: '"a\\ud800b"'}
        body = "{" + ", ".join(f'"{name}": {value}' for name, value in fields.items()) + "}"
        response = lead.post(
            f"/api/projects/{project.pk}/examples/", data=body, content_type="application/json"
        )

        # Then it is refused naming the field, as the API does for other text fields
        assert response.status_code == 400, response.content[:300]
        assert fields_of(response) == [where]

    @pytest.mark.parametrize("big", [2**63, 10**30, -(10**30)])
    def test_out_of_range_example_id_in_a_flag(self, team: Team, lead: APIClient, big: int) -> None:
        # When a flag names an id beyond any database integer
        response = lead.post(
            f"/api/projects/{team.project.pk}/flags/", {"kind": "quality", "examples": [big]}, format="json"
        )

        # Then it is refused naming examples (or the item: examples.0)
        assert response.status_code == 400, response.content[:300]
        fields = fields_of(response)
        assert fields and all(_names(name, "examples") for name in fields), fields

    @pytest.mark.parametrize(
        "path",
        [
            "/api/projects/99999999999999999999999/",
            "/api/projects/99999999999999999999999/examples/",
            "/api/examples/99999999999999999999999/",
            "/api/flags/99999999999999999999999/",
            "/api/validation-jobs/99999999999999999999999/",
        ],
    )
    def test_out_of_range_id_in_a_path_is_404(self, lead: APIClient, path: str) -> None:
        # When an id beyond any database integer is asked for
        response = lead.get(path)

        # Then there is no such object
        assert response.status_code == 404
        errors_of(response)

    def test_invalid_cursor_is_refused(self, team: Team, lead: APIClient) -> None:
        # When a made-up cursor is sent
        response = lead.get(f"/api/projects/{team.project.pk}/examples/", {"cursor": "not-a-cursor"})

        # Then it is refused in the standard body
        assert response.status_code in (400, 404)
        errors_of(response)

    @pytest.mark.parametrize(
        "path", ["/api/examples/abc/", "/api/projects/null,null/flags/", "/api/nothing/"]
    )
    def test_unrouted_api_path_is_404_in_the_standard_body(self, lead: APIClient, path: str) -> None:
        # When a path under /api/ matches no route (an id that is not a number, found by the fuzzer)
        response = lead.get(path)

        # Then it is a 404 in the API's error body, not Django's HTML page
        assert response.status_code == 404
        assert [error["code"] for error in errors_of(response)] == ["not_found"]

    def test_query_with_too_many_parameters_is_400_in_the_standard_body(
        self, team: Team, lead: APIClient, settings: Any
    ) -> None:
        # When a list is asked for with more query parameters than Django parses
        settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 10
        query = "&".join(f"q{n}=x" for n in range(11))
        response = lead.get(f"/api/projects/{team.project.pk}/examples/?{query}")

        # Then it is refused in the API's error body, not Django's HTML page
        assert response.status_code == 400, response.content[:300]
        assert [error["code"] for error in errors_of(response)] == ["too_many_fields"]

    def test_unrouted_page_is_still_the_html_404(self, lead: APIClient) -> None:
        # When a path outside /api/ matches no route
        response = lead.get("/nothing-here/")

        # Then it is the web UI's page, as before
        assert response.status_code == 404
        assert response["Content-Type"].startswith("text/html")


class TestSchema:
    def test_schema_describes_every_served_contract_path(self, client_for: ClientFor, team: Team) -> None:
        # Given the contract's paths that this service serves now
        served: dict[str, set[str]] = {}
        for line in CONTRACT.strip().splitlines():
            method, path = line.split()
            concrete = re.sub(r"\{[^}]+\}", "1", path)
            try:
                resolve(concrete)
            except Resolver404:
                continue
            served.setdefault(re.sub(r"\{[^}]+\}", "{}", path), set()).add(method.lower())
        assert set(served) >= SERVED_NOW

        # When the OpenAPI schema is fetched
        response = client_for(team.annotator).get("/api/schema/", {"format": "json"})

        # Then it describes each of them, with each promised method
        assert response.status_code == 200
        schema_paths = {
            re.sub(r"\{[^}]+\}", "{}", path): set(item) for path, item in response.json()["paths"].items()
        }
        for path, methods in served.items():
            assert path in schema_paths, f"{path} is served but missing from /api/schema/"
            assert methods <= schema_paths[path], f"{path}: {methods - schema_paths[path]} not described"

    def test_schema_default_format_and_docs_page(self, client_for: ClientFor, team: Team) -> None:
        # When the schema (default format) and the docs page are fetched
        client = client_for(team.annotator)
        schema = client.get("/api/schema/")
        docs = client.get("/api/docs/")

        # Then both are served
        assert schema.status_code == 200
        assert b"/api/projects/{project_id}/examples/" in schema.content
        assert docs.status_code == 200
        assert b"swagger" in docs.content.lower()

    def test_lists_are_documented_as_pages(self, client_for: ClientFor, team: Team) -> None:
        # When the OpenAPI schema is fetched
        schema = client_for(team.annotator).get("/api/schema/", {"format": "json"}).json()

        # Then a list answers a page of results (not a bare array), with its cursor parameter
        operation = schema["paths"]["/api/projects/{project_id}/examples/"]["get"]
        ok = operation["responses"]["200"]["content"]["application/json"]["schema"]
        page = schema["components"]["schemas"][ok["$ref"].rsplit("/", 1)[1]]
        assert set(page["properties"]) == {"results", "next", "previous"}
        assert page["properties"]["results"]["type"] == "array"
        assert "cursor" in {parameter["name"] for parameter in operation["parameters"]}

    def test_refusals_are_documented_with_the_error_body(self, client_for: ClientFor, team: Team) -> None:
        # When the OpenAPI schema is fetched
        schema = client_for(team.annotator).get("/api/schema/", {"format": "json"}).json()
        paths = schema["paths"]

        # Then every operation documents its 4xx answers, each with the one error body
        for path, item in paths.items():
            for method, operation in item.items():
                assert {"401", "403"} <= set(operation["responses"]), f"{method} {path}"
        assert {"400", "404", "409", "413", "415", "429", "503"} <= set(
            paths["/api/projects/{project_id}/examples/"]["post"]["responses"]
        )
        assert "404" in paths["/api/examples/{example_id}/"]["get"]["responses"]
        assert "400" in paths["/api/projects/{project_id}/members/{username}/"]["delete"]["responses"]
        refused = paths["/api/examples/{example_id}/"]["patch"]["responses"]["409"]
        assert refused["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/ErrorOutput"
        }
        assert set(schema["components"]["schemas"]["ErrorOutput"]["properties"]) == {"errors", "detail"}
