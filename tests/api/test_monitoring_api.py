"""The monitoring API: a deployment, thousands of samples in one request, the drift report per
the contract, its history, and the loop back to annotation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from curation.models import Example
from evaluation.models import LiveSample
from tests.api.support import error_fields
from tests.conftest import Team
from tests.evaluation.test_monitoring import banking_rows, deployed, restaurant_texts

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_in_tmp")]

ClientFor = Callable[[User | None], APIClient]
DRIFT_CONTRACT = {"window", "n", "input_drift", "ood_rate", "schema_violation_rate", "alert", "reasons"}


@pytest.fixture
def run_id(team: Team) -> int:
    deployment = deployed(team.project, team.lead, banking_rows()[:200])
    run_id = deployment.training_run_id
    deployment.delete()  # the API makes its own
    return run_id


def test_deploy_ingest_and_report_over_the_api(team: Team, run_id: int, client_for: ClientFor) -> None:
    lead = client_for(team.lead)
    response = lead.post("/api/deployments/", {"training_run": run_id, "name": "prod"}, format="json")
    assert response.status_code == 201, response.json()
    deployment = response.json()
    base = f"/api/deployments/{deployment['id']}"

    rows = [{"input": text, "output": "card_arrival"} for text in restaurant_texts()] * 10  # 3,000
    accepted = lead.post(f"{base}/samples/", rows, format="json")
    assert accepted.status_code == 202 and accepted.json() == {"accepted": 3000}

    drift = client_for(team.annotator).get(f"{base}/drift/")
    assert drift.status_code == 200
    report = drift.json()
    assert set(report) >= DRIFT_CONTRACT
    assert report["n"] == 3000 and report["alert"] and report["ood_rate"] > 0.5
    assert report["window"]["hours"] == pytest.approx(24.0)
    assert lead.get(f"{base}/reports/").json()["results"][0]["id"] == report["id"]

    created = client_for(team.reviewer).post(f"/api/drift-reports/{report['id']}/to-annotation/")
    assert (
        created.status_code == 200
        and created.json()["created"] == Example.objects.filter(source="deployment:prod").count() > 0
    )
    assert (
        client_for(team.annotator).post(f"/api/drift-reports/{report['id']}/to-annotation/").status_code
        == 403
    )


def test_samples_are_documented_as_a_list(team: Team, client_for: ClientFor) -> None:
    # When the OpenAPI schema is fetched
    schema = client_for(team.annotator).get("/api/schema/", {"format": "json"}).json()

    # Then the samples endpoint takes a JSON list of {input, output, at} (it was documented as an object)
    body = schema["paths"]["/api/deployments/{deployment_id}/samples/"]["post"]["requestBody"]
    assert set(body["content"]) == {"application/json"}
    documented = body["content"]["application/json"]["schema"]
    assert documented["type"] == "array"
    sample = schema["components"]["schemas"][documented["items"]["$ref"].rsplit("/", 1)[1]]
    assert set(sample["properties"]) == {"input", "output", "at"} and sample["required"] == ["input"]


def test_bad_samples_are_refused_whole(team: Team, run_id: int, client_for: ClientFor) -> None:
    lead = client_for(team.lead)
    deployment = lead.post(
        "/api/deployments/", {"training_run": run_id, "name": "prod"}, format="json"
    ).json()
    rows = [{"input": "Where is my card?", "output": "card_arrival"}, {"input": "ok", "at": "soon"}]
    response = lead.post(f"/api/deployments/{deployment['id']}/samples/", rows, format="json")
    assert response.status_code == 400
    assert error_fields(response) == ["[1]"]
    assert not LiveSample.objects.exists()
    too_many = [{"input": "x"}] * 10_001
    assert (
        lead.post(f"/api/deployments/{deployment['id']}/samples/", too_many, format="json").status_code == 400
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"thresholds": {"ood_rate": 2}}, "thresholds"),
        ({"thresholds": {"auc": 0.8}}, "thresholds"),
        ({"name": ""}, "name"),
    ],
)
def test_bad_deployments_are_named(
    team: Team, run_id: int, client_for: ClientFor, body: dict[str, Any], field: str
) -> None:
    response = client_for(team.lead).post(
        "/api/deployments/", {"training_run": run_id, "name": "prod", **body}, format="json"
    )
    assert response.status_code == 400, response.json()
    assert error_fields(response) == [field]


def test_a_second_deployment_of_the_same_name_is_a_conflict(
    team: Team, run_id: int, client_for: ClientFor
) -> None:
    lead = client_for(team.lead)
    assert (
        lead.post("/api/deployments/", {"training_run": run_id, "name": "prod"}, format="json").status_code
        == 201
    )
    assert (
        lead.post("/api/deployments/", {"training_run": run_id, "name": "prod"}, format="json").status_code
        == 409
    )


def test_bad_window_is_named(team: Team, run_id: int, client_for: ClientFor) -> None:
    lead = client_for(team.lead)
    deployment = lead.post(
        "/api/deployments/", {"training_run": run_id, "name": "prod"}, format="json"
    ).json()
    response = lead.get(f"/api/deployments/{deployment['id']}/drift/?hours=-3")
    assert response.status_code == 400 and error_fields(response) == ["hours"]
