"""The monitoring API: a deployment, thousands of samples in one request, the drift report per
the contract, its history, and the loop back to annotation."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.utils import timezone
from rest_framework.test import APIClient

from curation.models import AuditEvent, Example, LabelingItem
from evaluation.models import Deployment, DriftReport, DriftReportJob, LiveSample
from evaluation.monitoring import drift_report, samples_add
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


def test_deploy_ingest_and_report_over_the_api(
    team: Team, run_id: int, client_for: ClientFor, django_capture_on_commit_callbacks: Any
) -> None:
    lead = client_for(team.lead)
    response = lead.post("/api/deployments/", {"training_run": run_id, "name": "prod"}, format="json")
    assert response.status_code == 201, response.json()
    deployment = response.json()
    base = f"/api/deployments/{deployment['id']}"

    rows = [{"input": text, "output": "card_arrival"} for text in restaurant_texts()] * 10  # 3,000
    accepted = lead.post(f"{base}/samples/", rows, format="json")
    assert accepted.status_code == 202 and accepted.json() == {"accepted": 3000}

    # Reading before any report: the contract's fields, empty, saying how to get one
    before = client_for(team.annotator).get(f"{base}/drift/")
    assert before.status_code == 200 and set(before.json()) >= DRIFT_CONTRACT
    assert before.json()["status"] == "no_report" and not before.json()["alert"]
    assert f"POST /api/deployments/{deployment['id']}/drift/" in before.json()["reasons"][0]

    # A lead asks for one: a job on a worker (eager here), which stores the report
    with django_capture_on_commit_callbacks(execute=True):
        asked = lead.post(f"{base}/drift/", {}, format="json")
    assert asked.status_code == 202, asked.json()
    job = lead.get(f"/api/drift-jobs/{asked.json()['id']}/").json()
    assert job["status"] == "succeeded" and job["progress"] == 1.0 and job["error"] == ""

    drift = client_for(team.annotator).get(f"{base}/drift/")
    assert drift.status_code == 200
    report = drift.json()
    assert set(report) >= DRIFT_CONTRACT and report["status"] == "reported"
    assert report["id"] == job["report"] and report["pending_job"] is None
    assert report["n"] == 3000 and report["alert"] and report["ood_rate"] > 0.5
    assert report["window"]["hours"] == pytest.approx(24.0)
    assert lead.get(f"{base}/reports/").json()["results"][0]["id"] == report["id"]

    created = client_for(team.reviewer).post(f"/api/drift-reports/{report['id']}/to-annotation/")
    queued = LabelingItem.objects.filter(project=team.project, source="deployment:prod")
    assert created.status_code == 200
    sent = created.json()
    assert sent["created"] == queued.count() > 0
    # Live traffic repeats itself: an input sent twice in one report is queued once
    assert sent["created"] + sent["already_queued"] == report["ood_samples"]
    assert not Example.objects.filter(source="deployment:prod").exists()  # no empty drafts any more
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


def test_characters_no_database_stores_are_replaced_not_a_500(
    team: Team, run_id: int, client_for: ClientFor
) -> None:
    # Given samples holding a NUL and a lone surrogate, sent as raw JSON escapes
    lead = client_for(team.lead)
    deployment = lead.post(
        "/api/deployments/", {"training_run": run_id, "name": "prod"}, format="json"
    ).json()
    body = '[{"input": "lone \\ud800 x", "output": "pos\\u0000"}, {"input": [{"role": "user", "content": "\\udfff"}]}]'
    response = lead.post(
        f"/api/deployments/{deployment['id']}/samples/", body, content_type="application/json"
    )
    # Then they are kept, each such character as U+FFFD
    assert response.status_code == 202, response.content[:300]
    stored = list(LiveSample.objects.order_by("pk").values_list("input", "output"))
    assert stored[0] == ("lone \ufffd x", "pos\ufffd") and "\ufffd" in stored[1][0]


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
    response = lead.post(f"/api/deployments/{deployment['id']}/drift/", {"hours": 0}, format="json")
    assert response.status_code == 400 and error_fields(response) == ["hours"]


@pytest.fixture
def reporting(team: Team) -> Deployment:
    deployment = deployed(team.project, team.lead, banking_rows()[:200])
    samples_add(
        deployment=deployment, rows=[{"input": text, "output": "x"} for text in restaurant_texts()[:61]]
    )
    return deployment


def test_reading_the_drift_computes_nothing(
    team: Team,
    reporting: Deployment,
    client_for: ClientFor,
    monkeypatch: pytest.MonkeyPatch,
    django_assert_max_num_queries: Any,
) -> None:
    """Any member's GET used to compute and store a new report inside the request (13 s for 61
    samples); it reads the latest stored one."""
    # Given a stored report, and a model that must not run
    older, latest = drift_report(deployment=reporting), drift_report(deployment=reporting, hours=2)

    def no_model(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a GET embedded texts")

    monkeypatch.setattr("evaluation.monitoring.cached_vectors", no_model)
    annotator = client_for(team.annotator)

    # When annotators read the drift, with and without a window length
    with django_assert_max_num_queries(8):
        plain = annotator.get(f"/api/deployments/{reporting.pk}/drift/")
    by_window = annotator.get(f"/api/deployments/{reporting.pk}/drift/?hours=24")
    missing = annotator.get(f"/api/deployments/{reporting.pk}/drift/?hours=5")

    # Then they get the stored reports, and no report was made
    assert (
        plain.status_code == 200 and plain.json()["id"] == latest.pk and plain.json()["status"] == "reported"
    )
    assert by_window.json()["id"] == older.pk
    assert missing.json()["status"] == "no_report" and missing.json()["id"] is None
    assert "5-hour window" in missing.json()["reasons"][0]
    assert DriftReport.objects.count() == 2


@pytest.mark.parametrize("actor", ["annotator", "reviewer"])
def test_only_leads_compute_a_report(
    team: Team,
    reporting: Deployment,
    client_for: ClientFor,
    actor: str,
    django_capture_on_commit_callbacks: Any,
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(team.user(actor)).post(f"/api/deployments/{reporting.pk}/drift/")
    assert response.status_code == 403
    assert not DriftReportJob.objects.exists() and not DriftReport.objects.exists()


def test_a_lead_report_runs_as_a_job_once_at_a_time(
    team: Team, reporting: Deployment, client_for: ClientFor, django_capture_on_commit_callbacks: Any
) -> None:
    lead = client_for(team.lead)
    # Two asks while the first is still queued give the same job
    first = lead.post(f"/api/deployments/{reporting.pk}/drift/", {"hours": 48}, format="json")
    second = lead.post(f"/api/deployments/{reporting.pk}/drift/", {"hours": 48}, format="json")
    assert (first.status_code, second.status_code) == (202, 202)
    assert first.json()["id"] == second.json()["id"] and first.json()["status"] == "queued"
    assert AuditEvent.objects.filter(action="drift_report_job.start", actor=team.lead).count() == 1
    waiting = lead.get(f"/api/deployments/{reporting.pk}/drift/").json()
    assert waiting["pending_job"] == first.json()["id"] and waiting["status"] == "no_report"

    # Once it ran on the worker, the report exists and a new ask is a new job
    from evaluation.tasks import compute_drift_report

    compute_drift_report.delay(first.json()["id"])
    job = DriftReportJob.objects.get()
    assert job.status == "succeeded" and job.report is not None
    assert job.report.n == 61 and job.report.window_end - job.report.window_start == timedelta(hours=48)
    with django_capture_on_commit_callbacks(execute=True):
        third = lead.post(f"/api/deployments/{reporting.pk}/drift/", format="json")
    assert third.json()["id"] != job.pk and DriftReport.objects.count() == 2


def test_a_job_whose_message_was_lost_blocks_no_new_one(
    team: Team, reporting: Deployment, client_for: ClientFor
) -> None:
    lead = client_for(team.lead)
    lost = lead.post(f"/api/deployments/{reporting.pk}/drift/", format="json").json()
    DriftReportJob.objects.filter(pk=lost["id"]).update(created_at=timezone.now() - timedelta(hours=2))
    again = lead.post(f"/api/deployments/{reporting.pk}/drift/", format="json")
    assert again.status_code == 202 and again.json()["id"] != lost["id"]


def test_a_silent_drift_job_is_reaped(team: Team, reporting: Deployment, settings: Any) -> None:
    from curation.models import JobHeartbeat
    from evaluation.drift_jobs import drift_report_job_create
    from evaluation.tasks import reap_stale_runs

    job = drift_report_job_create(deployment=reporting, user=team.lead)
    DriftReportJob.objects.filter(pk=job.pk).update(status="running")
    JobHeartbeat.objects.create(
        kind="evaluation.driftreportjob", object_id=job.pk, beat_at=timezone.now() - timedelta(hours=1)
    )
    assert reap_stale_runs() == 1
    job.refresh_from_db()
    assert job.status == "failed" and "No report was stored" in job.error
