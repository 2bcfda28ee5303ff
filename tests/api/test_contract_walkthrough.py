"""What an outside script found walking the contract (shared/API.md) against a running Finch:
bad input is a 400 naming the problem, never a 500, and the OpenAPI schema lists the refusals an
endpoint gives."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from curation.models import ExampleStatus, Role
from curation.services.versions import version_create
from evaluation.models import LiveSample
from tests.api.support import error_fields
from tests.conftest import Team
from tests.evaluation.test_monitoring import banking_rows, deployed
from tests.factories import LABELS, ExampleFactory, MembershipFactory, ProjectFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_in_tmp")]

ClientFor = Callable[[User | None], APIClient]


@pytest.mark.parametrize(
    "at",
    [
        "2026-02-30T00:00:00Z",  # no such day
        "2026-13-01T00:00:00Z",  # no such month
        "2026-01-01T25:00:00Z",  # no such hour
        "0000-01-01T00:00:00Z",  # no year 0
        "9999-99-99T00:00:00Z",
        "2026-01-01T00:00:00+25:00",  # an offset of more than a day
    ],
)
def test_a_sample_time_that_names_no_real_moment_is_a_400_naming_the_row(
    team: Team, client_for: ClientFor, at: str
) -> None:
    deployment = deployed(team.project, team.lead, banking_rows()[:40])
    rows = [
        {"input": "Where is my card?", "output": "card_arrival"},
        {"input": "My card has not arrived", "output": "card_arrival", "at": at},
    ]
    response = client_for(team.lead).post(f"/api/deployments/{deployment.pk}/samples/", rows, format="json")
    assert response.status_code == 400, response.content[:300]
    assert error_fields(response) == ["[1]"]
    assert "[1].at" in response.json()["detail"] and at in response.json()["detail"]
    assert not LiveSample.objects.filter(deployment=deployment).exists()  # all or none


def test_a_real_sample_time_is_still_taken(team: Team, client_for: ClientFor) -> None:
    deployment = deployed(team.project, team.lead, banking_rows()[:40])
    rows = [{"input": "Where is my card?", "output": "card_arrival", "at": "2026-01-01T10:00:00+01:00"}]
    response = client_for(team.lead).post(f"/api/deployments/{deployment.pk}/samples/", rows, format="json")
    assert response.status_code == 202 and response.json() == {"accepted": 1}


def test_a_diff_across_projects_is_a_400_the_schema_lists(team: Team, client_for: ClientFor) -> None:
    other = ProjectFactory.create()
    MembershipFactory.create(project=other, user=team.lead, role=Role.LEAD)
    versions = []
    for project in (team.project, other):
        for index in range(10):
            ExampleFactory.create(
                project=project,
                input=f"Where is card {index}?",
                output=LABELS[index % 2],
                status=ExampleStatus.APPROVED,
            )
        version = version_create(project=project, user=team.lead, eval_fraction=0.2)
        assert version.is_frozen, version.error
        versions.append(version.pk)
    lead = client_for(team.lead)

    response = lead.get(f"/api/versions/{versions[0]}/diff/{versions[1]}/")
    assert response.status_code == 400
    assert error_fields(response) == ["other"]

    schema = lead.get("/api/schema/", {"format": "json"}).json()
    responses = schema["paths"]["/api/versions/{version_id}/diff/{other_id}/"]["get"]["responses"]
    assert "400" in responses and "200" in responses and "404" in responses


@pytest.mark.parametrize("debug", [False, True])
def test_a_write_to_a_path_without_its_slash_is_redirected_keeping_its_method(
    team: Team, client_for: ClientFor, settings: Any, debug: bool
) -> None:
    # A 301 turned the POST into a GET (200, the project list): the script believed it had
    # created a project. In DEBUG Django refused it with a RuntimeError (a 500).
    settings.DEBUG = debug
    body = {
        "name": "Routed",
        "task_type": "classification",
        "target_behavior": "Route.",
        "labels": ["a", "b"],
    }
    lead = client_for(team.lead)

    response = lead.post("/api/projects", body, format="json")

    # Then a 308: clients send the same POST, body and all, to the path it names
    assert response.status_code == 308 and response["Location"] == "/api/projects/"
    assert lead.post(response["Location"], body, format="json").status_code == 201
    assert lead.get("/api/projects?page_size=5").status_code == 308  # a read too: one rule
