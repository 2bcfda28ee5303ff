"""Hostile input the other suites do not already send: bytes that are not UTF-8, SQL and path
tricks in filters and names, enormous query strings. Each is a 4xx naming the problem (or, for
a filter, simply matches nothing), never a 500, and changes nothing."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from curation.models import Example, ImportJob, Project
from tests.conftest import Team
from tests.factories import ExampleFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_in_tmp")]

ClientFor = Callable[..., APIClient]
SQL_LIKE = ["' OR '1'='1", "1; DROP TABLE curation_example; --", '" UNION SELECT password FROM auth_user --']


def test_a_json_body_that_is_not_utf8_is_a_400_naming_it(team: Team, client_for: ClientFor) -> None:
    body = b'{"input": "caf\xe9 \xff\xfe", "output": "card_arrival"}'
    response = client_for(team.lead).generic(
        "POST",
        f"/api/projects/{team.project.pk}/examples/",
        body,  # type: ignore[arg-type]  # bytes, on purpose
        content_type="application/json",
    )
    assert response.status_code == 400
    assert (
        "Malformed request body" in response.json()["detail"] and "utf-8" in response.json()["detail"].lower()
    )
    assert not Example.objects.filter(project=team.project).exists()


@pytest.mark.parametrize("value", SQL_LIKE)
@pytest.mark.parametrize("param", ["q", "source", "created_by"])
def test_sql_looking_text_filters_match_nothing_and_leak_nothing(
    team: Team, client_for: ClientFor, param: str, value: str
) -> None:
    ExampleFactory.create(project=team.project, input="Where is my card?")
    response = client_for(team.lead).get(f"/api/projects/{team.project.pk}/examples/", {param: value})
    assert response.status_code == 200
    assert response.json()["results"] == []
    assert Example.objects.filter(project=team.project).count() == 1


@pytest.mark.parametrize("value", SQL_LIKE)
@pytest.mark.parametrize(
    ("path", "param"),
    [("examples/", "status"), ("flags/", "kind"), ("flags/", "status"), ("audit/", "target_id")],
)
def test_sql_looking_values_of_closed_filters_are_400_naming_the_filter(
    team: Team, client_for: ClientFor, path: str, param: str, value: str
) -> None:
    response = client_for(team.lead).get(f"/api/projects/{team.project.pk}/{path}", {param: value})
    assert response.status_code == 400, response.content
    assert param in response.json()["detail"]


def test_an_enormous_query_string_is_refused_or_matches_nothing(team: Team, client_for: ClientFor) -> None:
    response = client_for(team.lead).get(f"/api/projects/{team.project.pk}/examples/", {"q": "x" * 200_000})
    assert response.status_code in (200, 400)
    if response.status_code == 200:
        assert response.json()["results"] == []


@pytest.mark.parametrize("name", ["../../../etc/passwd", "..\\..\\boot.ini", "/etc/shadow", "rows\x00.jsonl"])
def test_an_upload_name_cannot_reach_outside_storage(team: Team, client_for: ClientFor, name: str) -> None:
    upload = SimpleUploadedFile(name, b'{"input": "Hi there", "output": "card_arrival"}\n')
    response = client_for(team.lead).post(
        f"/api/projects/{team.project.pk}/imports/", {"file": upload}, format="multipart"
    )
    assert response.status_code in (202, 400), response.content
    if response.status_code == 202:
        job = ImportJob.objects.get(pk=response.json()["id"])
        assert not {"/", "\\", "\x00"} & set(job.filename)
        stored = Path(job.file.path).resolve()
        assert stored.is_relative_to(Path(settings.MEDIA_ROOT).resolve()) and stored.is_file()


def test_a_project_name_with_markup_is_stored_as_text(team: Team, client_for: ClientFor) -> None:
    name = "<img src=x onerror=alert(1)>"
    response = client_for(team.lead).patch(f"/api/projects/{team.project.pk}/", {"name": name}, format="json")
    assert response.status_code == 200 and response.json()["name"] == name
    assert Project.objects.get(pk=team.project.pk).name == name
