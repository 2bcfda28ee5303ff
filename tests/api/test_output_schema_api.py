"""An extraction project's output_schema can neither make the server fetch a URL, nor hang a
worker on a pattern, nor turn an example's write or an import into a 500 or half an import."""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from rest_framework.test import APIClient

from curation.models import Example, Project, TaskType
from tests.api.test_errors_api import fields_of, project_of
from tests.conftest import Team
from tests.curation.test_imports import run_import

pytestmark = pytest.mark.django_db


@pytest.fixture
def lead(team: Team, client_for: Any) -> APIClient:
    client: APIClient = client_for(team.lead)
    return client


@pytest.fixture
def listener() -> Iterator[tuple[str, list[str]]]:
    """A local HTTP server that serves a schema and records every path asked of it."""
    asked: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            asked.append(self.path)
            body = b'{"enum": ["SECRET-VALUE-42"]}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}", asked
    server.shutdown()


def create_extraction(client: APIClient, schema: dict[str, Any]) -> Any:
    body = {"name": "x", "task_type": "extraction", "target_behavior": "t", "output_schema": schema}
    return client.post("/api/projects/", body, format="json")


def write(client: APIClient, project: Project, output: Any) -> Any:
    return client.post(
        f"/api/projects/{project.pk}/examples/", {"input": "x", "output": output}, format="json"
    )


class TestSaving:
    @pytest.mark.parametrize(
        "schema",
        [
            lambda url: {"$ref": f"{url}/s.json"},
            lambda url: {"$id": f"{url}/base.json", "$ref": "other.json"},
            lambda url: {"properties": {"name": {"$ref": f"{url}/s.json#/enum"}}},
        ],
    )
    def test_a_reference_outside_the_schema_is_refused_and_nothing_is_fetched(
        self, lead: APIClient, listener: tuple[str, list[str]], schema: Any
    ) -> None:
        url, asked = listener
        response = create_extraction(lead, schema(url))
        assert response.status_code == 400 and fields_of(response) == ["output_schema"]
        assert "refers outside itself" in response.json()["detail"]
        assert asked == [] and not Project.objects.filter(task_type=TaskType.EXTRACTION).exists()

    @pytest.mark.parametrize(
        ("schema", "problem"),
        [
            ({"$ref": "#/$defs/missing"}, "leads nowhere"),
            ({"$ref": "#"}, "refers to itself without end"),
            ({"$dynamicRef": "#meta"}, "leads nowhere"),
        ],
    )
    def test_a_schema_that_cannot_be_applied_is_refused(
        self, lead: APIClient, schema: dict[str, Any], problem: str
    ) -> None:
        response = create_extraction(lead, schema)
        assert response.status_code == 400 and fields_of(response) == ["output_schema"]
        assert problem in response.json()["detail"]

    def test_references_within_the_schema_work(self, team: Team, lead: APIClient) -> None:
        schema = {
            "$defs": {"count": {"type": "integer"}},
            "properties": {"people": {"$ref": "#/$defs/count"}},
        }
        assert create_extraction(lead, schema).status_code == 201
        project = Project.objects.get(task_type=TaskType.EXTRACTION)
        assert write(lead, project, {"people": 2}).status_code == 201
        refused = write(lead, project, {"people": "two"})
        assert refused.status_code == 400 and "is not of type 'integer'" in refused.json()["detail"]


class TestChecking:
    def test_a_remote_reference_already_stored_fetches_nothing(
        self, team: Team, lead: APIClient, listener: tuple[str, list[str]]
    ) -> None:
        # Given a schema stored before references were checked
        url, asked = listener
        project = project_of(TaskType.EXTRACTION, team.lead, output_schema={"$ref": f"{url}/s.json"})
        # When an example is written, it is refused naming the reference, and nothing is fetched
        response = write(lead, project, {"name": "guess"})
        assert response.status_code == 400 and fields_of(response) == ["output"]
        assert "SECRET" not in response.json()["detail"] and asked == []

    @pytest.mark.parametrize(
        ("schema", "output", "problem"),
        [
            ({"properties": {"a": {"$ref": "#/properties/a"}}}, {"a": 1}, "refers to itself without end"),
            ({"properties": {"n": {"multipleOf": 0.1}}}, {"n": 10**400}, "too large to check"),
        ],
    )
    def test_an_output_the_schema_cannot_be_applied_to_is_a_400(
        self, team: Team, lead: APIClient, schema: dict[str, Any], output: Any, problem: str
    ) -> None:
        project = project_of(TaskType.EXTRACTION, team.lead, output_schema=schema)
        response = write(lead, project, output)
        assert response.status_code == 400 and fields_of(response) == ["output"]
        assert problem in response.json()["detail"]

    def test_a_pattern_that_backtracks_without_end_is_cut_short(self, team: Team, lead: APIClient) -> None:
        # Given a pattern that takes exponential time on a near match
        schema = {"properties": {"name": {"type": "string", "pattern": "^(a|aa)+$"}}}
        project = project_of(TaskType.EXTRACTION, team.lead, output_schema=schema)
        # When an output holds one, the write is refused at once, naming the pattern
        start = time.monotonic()
        response = write(lead, project, {"name": "a" * 60 + "!"})
        assert time.monotonic() - start < 5
        assert response.status_code == 400 and "takes too long" in response.json()["detail"]
        # And the same pattern still checks ordinary values (and property names)
        assert write(lead, project, {"name": "aaaa"}).status_code == 201
        assert write(lead, project, {"name": "ab"}).status_code == 400

    def test_pattern_properties_and_additional_properties_hold(self, team: Team, lead: APIClient) -> None:
        schema = {"patternProperties": {"^x-": {"type": "string"}}, "additionalProperties": False}
        project = project_of(TaskType.EXTRACTION, team.lead, output_schema=schema)
        assert write(lead, project, {"x-a": "1"}).status_code == 201
        assert "is not of type 'string'" in write(lead, project, {"x-b": 1}).json()["detail"]
        assert "'y' unexpected" in write(lead, project, {"y": "1"}).json()["detail"]


def test_an_import_row_the_schema_cannot_be_applied_to_is_a_row_error(team: Team) -> None:
    # Given a file whose middle row holds a number too large for the schema's multipleOf
    project = project_of(
        TaskType.EXTRACTION, team.lead, output_schema={"properties": {"price": {"multipleOf": 0.5}}}
    )
    rows = [f'{{"input": "item {i}", "output": {{"price": {i}}}}}' for i in range(3)]
    rows.insert(1, '{"input": "big", "output": {"price": 1' + "0" * 400 + "}}")
    # When it is imported
    job = run_import(project, team.lead, ("\n".join(rows) + "\n").encode())
    # Then the other rows land and that row is named
    assert (job.status, job.created, job.failed) == ("succeeded", 3, 1)
    assert Example.objects.filter(project=project).count() == 3
    assert job.errors[0]["line"] == 2 and "too large" in job.errors[0]["error"]
