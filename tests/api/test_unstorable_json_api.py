"""JSON that no database can store, sent to the API, is a 400 naming the field, never a 500
with the database's message nor a row that only SQLite would keep (issue 20, fault 2)."""

from __future__ import annotations

import bz2
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import DataError, connection
from rest_framework.test import APIClient

from curation.models import Example, TaskType
from evaluation.models import LiveSample
from tests.api.support import error_fields
from tests.api.test_errors_api import project_of
from tests.conftest import Team
from tests.evaluation.test_monitoring import deployed
from tests.factories import LABELS, ExampleFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_in_tmp")]

ClientFor = Callable[[User | None], APIClient]
DEEP = "[" * 150 + "]" * 150  # parses in Python, nests past the limit
UNSTORABLE = [
    pytest.param("1e999", id="overflow"),
    pytest.param("-1e999", id="minus-overflow"),
    pytest.param(DEEP, id="deep"),
]


@pytest.fixture
def lead(team: Team, client_for: ClientFor) -> APIClient:
    client = client_for(team.lead)
    client.raise_request_exception = False  # a 500 is a response to assert on
    return client


def sent(client: APIClient, method: str, path: str, body: str) -> Any:
    return getattr(client, method)(path, data=body, content_type="application/json")


def refused_naming(response: Any, field: str) -> str:
    assert response.status_code == 400, response.content[:300]
    assert error_fields(response) == [field]
    message: str = response.json()["errors"][0]["message"]
    assert "invalid input syntax" not in message and "Token" not in message
    return message


@pytest.mark.parametrize("value", UNSTORABLE)
def test_given_unstorable_metadata_when_creating_or_editing_an_example_then_400_names_metadata(
    team: Team, lead: APIClient, value: str
) -> None:
    created = sent(
        lead,
        "post",
        f"/api/projects/{team.project.pk}/examples/",
        f'{{"input": "hi", "metadata": {{"s": {value}}}}}',
    )
    refused_naming(created, "metadata")
    assert not Example.objects.filter(input="hi").exists()

    example = ExampleFactory.create(project=team.project, metadata={"kept": 1})
    body = f'{{"revision": {example.revision}, "metadata": {{"s": {value}}}}}'
    refused_naming(sent(lead, "patch", f"/api/examples/{example.pk}/", body), "metadata")
    example.refresh_from_db()
    assert example.metadata == {"kept": 1}


@pytest.mark.parametrize(
    "output",
    [
        pytest.param('{"people": 1e999}', id="object-overflow"),
        pytest.param('"{\\"people\\": NaN}"', id="text-nan"),
        pytest.param('"{\\"people\\": 2, \\"x\\": ' + DEEP.replace('"', "") + '}"', id="text-deep"),
    ],
)
def test_given_an_unstorable_extraction_output_when_creating_then_400_names_output(
    team: Team, lead: APIClient, output: str
) -> None:
    project = project_of(TaskType.EXTRACTION, team.lead)

    response = sent(
        lead, "post", f"/api/projects/{project.pk}/examples/", f'{{"input": "x", "output": {output}}}'
    )

    refused_naming(response, "output")
    assert not project.examples.exists()


def test_given_an_integer_too_long_for_python_when_posting_then_a_plain_400(
    team: Team, lead: APIClient
) -> None:
    body = '{"input": "hi", "metadata": {"n": ' + "1" * 4301 + "}}"

    response = sent(lead, "post", f"/api/projects/{team.project.pk}/examples/", body)

    assert response.status_code == 400
    message = response.json()["errors"][0]["message"]
    assert "more than 4300 digits" in message and "set_int_max_str_digits" not in message


@pytest.mark.parametrize("value", UNSTORABLE)
def test_given_an_unstorable_chat_sample_when_sending_live_samples_then_400_names_it(
    team: Team, lead: APIClient, value: str
) -> None:
    deployment = deployed(team.project, team.lead, [(f"text {n}", LABELS[n % 2]) for n in range(10)])
    samples = f'[{{"input": "fine", "output": "x"}}, {{"input": [{{"role": "user", "content": {value}}}]}}]'

    response = sent(lead, "post", f"/api/deployments/{deployment.pk}/samples/", samples)

    refused_naming(response, "[1].input")
    assert not LiveSample.objects.exists()


def test_given_the_database_refuses_a_value_when_writing_then_a_plain_400_not_its_message(
    team: Team, lead: APIClient
) -> None:
    raw = 'invalid input syntax for type json\nDETAIL:  Token "NaN" is invalid.'

    def refuse(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        if sql.lstrip().upper().startswith("INSERT"):
            raise DataError(raw)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(refuse):
        response = sent(lead, "post", f"/api/projects/{team.project.pk}/examples/", '{"input": "hi"}')

    assert response.status_code == 400
    assert (
        "Token" not in response.content.decode()
        and "cannot be stored" in response.json()["errors"][0]["message"]
    )


def test_given_a_key_twice_in_a_body_when_posting_then_a_400_names_it_and_nothing_is_created(
    team: Team, lead: APIClient
) -> None:
    body = '{"input": "Where is my card?", "output": "card_arrival", "output": "lost_or_stolen_card"}'

    response = sent(lead, "post", f"/api/projects/{team.project.pk}/examples/", body)

    assert response.status_code == 400
    message = response.json()["errors"][0]["message"]
    assert "gives the key 'output' twice in one object" in message
    assert not team.project.examples.exists()


def test_given_a_bytes_to_bytes_charset_when_posting_then_a_400_and_nothing_is_decompressed(
    team: Team, lead: APIClient
) -> None:
    body = bz2.compress(b'{"input": "' + b"a" * 1_000_000 + b'"}')

    response = lead.generic(
        "POST",
        f"/api/projects/{team.project.pk}/examples/",
        body,  # type: ignore[arg-type]  # Django sends bytes as they are; the stubs say str
        content_type="application/json; charset=bz2_codec",
    )

    assert response.status_code == 400
    assert 'Unsupported charset "bz2_codec"' in response.json()["errors"][0]["message"]
    assert not team.project.examples.exists()
