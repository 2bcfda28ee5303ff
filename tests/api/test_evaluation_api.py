"""The evaluation API, eagerly: a baseline and a tuned eval run over the API, their predictions,
a comparison per the contract, and bad input named."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from curation.models import DatasetVersion, JobStatus
from evaluation.models import EvalRun
from tests.api.support import error_fields
from tests.conftest import Team
from tests.evaluation.test_eval_runs import trained
from tests.training.support import FreezeFn

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_in_tmp")]

ClientFor = Callable[[User | None], APIClient]
COMPARISON_CONTRACT = {
    "metric",
    "baseline_score",
    "candidate_score",
    "delta",
    "ci_low",
    "ci_high",
    "verdict",
    "reason",
}


@pytest.fixture
def version(team: Team, frozen: FreezeFn) -> DatasetVersion:
    return frozen(team.project, team.lead, count=90)


def launch(client: APIClient, capture: Any, **body: Any) -> dict[str, Any]:
    with capture(execute=True):
        response = client.post("/api/eval-runs/", body, format="json")
    assert response.status_code == 202, response.json()
    run = client.get(f"/api/eval-runs/{response.json()['id']}/").json()
    assert run["status"] == JobStatus.SUCCEEDED, run["error"]
    return dict(run)


def test_baseline_tuned_and_comparison_over_the_api(
    team: Team,
    version: DatasetVersion,
    tiny_model: str,
    client_for: ClientFor,
    django_capture_on_commit_callbacks: Any,
) -> None:
    lead = client_for(team.lead)
    tuned_run = trained(version, tiny_model)
    baseline = launch(lead, django_capture_on_commit_callbacks, version=version.pk, base_model=tiny_model)
    tuned = launch(lead, django_capture_on_commit_callbacks, version=version.pk, training_run=tuned_run.pk)

    assert baseline["kind"] == "baseline" and tuned["kind"] == "tuned"
    assert tuned["base_model"] == tiny_model  # taken from the training run
    assert {"metrics", "n"} <= set(tuned) and tuned["n"] == 18
    predictions = lead.get(f"/api/eval-runs/{tuned['id']}/predictions/?page_size=5").json()
    assert len(predictions["results"]) == 5 and predictions["next"]
    assert {"example", "reference", "raw", "extracted", "scores"} <= set(predictions["results"][0])

    response = lead.post(
        "/api/comparisons/", {"baseline": baseline["id"], "candidate": tuned["id"]}, format="json"
    )
    assert response.status_code == 201, response.json()
    comparison = response.json()
    assert set(comparison) >= COMPARISON_CONTRACT
    assert comparison["verdict"] == "ship", comparison["reason"]
    assert comparison["ci_low"] > 0 and comparison["resamples"] >= 1000
    assert lead.get(f"/api/comparisons/{comparison['id']}/").json() == comparison

    reviewer = client_for(team.reviewer)
    body = {"baseline": baseline["id"], "candidate": tuned["id"]}
    assert reviewer.post("/api/comparisons/", body, format="json").status_code == 403
    bad_metric = lead.post("/api/comparisons/", {**body, "metric": "bleu"}, format="json")
    assert bad_metric.status_code == 400 and error_fields(bad_metric) == ["metric"]
    assert "use one of accuracy, macro_f1" in bad_metric.json()["detail"]
    # A share of failures would read backwards (a drop is the improvement): it is a guardrail only
    backwards = lead.post("/api/comparisons/", {**body, "metric": "invalid_label"}, format="json")
    assert backwards.status_code == 400 and error_fields(backwards) == ["metric"]
    assert "lower is better" in backwards.json()["detail"]
    same = lead.post("/api/comparisons/", {"baseline": tuned["id"], "candidate": tuned["id"]}, format="json")
    assert same.status_code == 400


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"few_shot": 33}, "few_shot"),
        ({"base_model": ""}, "base_model"),
        ({"temperature": 0.7}, "temperature"),
    ],
)
def test_bad_eval_input_is_named(
    team: Team,
    version: DatasetVersion,
    tiny_model: str,
    client_for: ClientFor,
    body: dict[str, Any],
    field: str,
) -> None:
    request = {"version": version.pk, "base_model": tiny_model, **body}
    response = client_for(team.lead).post("/api/eval-runs/", request, format="json")
    assert response.status_code == 400, response.json()
    assert error_fields(response) == [field]
    assert not EvalRun.objects.exists()


def test_a_comparison_of_an_unfinished_run_is_a_conflict(
    team: Team, version: DatasetVersion, tiny_model: str, client_for: ClientFor
) -> None:
    lead = client_for(team.lead)
    first = lead.post(
        "/api/eval-runs/", {"version": version.pk, "base_model": tiny_model}, format="json"
    ).json()
    second = lead.post(
        "/api/eval-runs/", {"version": version.pk, "base_model": tiny_model}, format="json"
    ).json()
    response = lead.post(
        "/api/comparisons/", {"baseline": first["id"], "candidate": second["id"]}, format="json"
    )
    assert response.status_code == 409
    assert "is queued; compare finished runs only" in response.json()["detail"]
