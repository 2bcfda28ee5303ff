"""A broker that cannot take a job's message: the job fails at once saying so, the request that
started it answers as usual, and nothing waits forever as queued."""

from __future__ import annotations

import io
from typing import Any

import pytest
from kombu.exceptions import OperationalError as BrokerError

from curation.models import DedupJob, ExampleStatus, ImportJob, JobStatus, LabelingOrder
from curation.services.dispatch import NOT_QUEUED, job_fail_if_queued
from curation.services.imports import import_job_create
from curation.services.labeling_order import priorities_refresh
from tests.conftest import Team
from tests.factories import ExampleFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_in_tmp")]


@pytest.fixture
def broker_down(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every task's delay raises what kombu raises for a refused connection; the names tried."""
    tried: list[str] = []

    def refuse(self: Any, *args: Any, **kwargs: Any) -> None:
        tried.append(self.name)
        raise BrokerError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr("celery.app.task.Task.delay", refuse)
    return tried


def one_row_import(team: Team) -> ImportJob:
    upload = io.BytesIO(b'{"input": "Hi", "output": "card_arrival"}\n')
    return import_job_create(project=team.project, user=team.lead, upload=upload, filename="rows.jsonl")


def test_a_dedup_job_started_over_the_api_fails_at_once_naming_the_broker(
    team: Team, client_for: Any, broker_down: list[str], django_capture_on_commit_callbacks: Any
) -> None:
    # Given a broker that refuses connections
    # When a lead starts a dedup job
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(team.lead).post(
            f"/api/projects/{team.project.pk}/dedup-jobs/", {"method": "exact"}, format="json"
        )

    # Then the request answers as usual, and the job is failed, not queued with no message
    assert response.status_code == 202, response.content
    assert broker_down == ["curation.dedup_examples"]
    job = client_for(team.lead).get(f"/api/dedup-jobs/{response.json()['id']}/").json()
    assert (job["status"], job["error"]) == ("failed", NOT_QUEUED)
    assert "start it again once the broker is back" in job["error"]


def test_an_import_whose_message_is_refused_fails_and_lets_go_of_its_upload(
    team: Team, broker_down: list[str], django_capture_on_commit_callbacks: Any, settings: Any
) -> None:
    settings.FINCH_UPLOAD_RETENTION_DAYS = 0
    with django_capture_on_commit_callbacks(execute=True):
        job = one_row_import(team)

    job.refresh_from_db()
    assert (job.status, job.error, job.file.name) == (JobStatus.FAILED, NOT_QUEUED, "")
    assert job.finished_at is not None


def test_a_freeze_on_a_worker_that_cannot_be_queued_fails_the_version(
    team: Team,
    client_for: Any,
    broker_down: list[str],
    settings: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    settings.FINCH_FREEZE_INLINE_MAX = 2
    for index in range(4):
        ExampleFactory.create(project=team.project, input=f"Question {index}", status=ExampleStatus.APPROVED)

    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(team.lead).post(f"/api/projects/{team.project.pk}/versions/", {}, format="json")

    assert response.status_code == 202, response.content
    version = client_for(team.lead).get(f"/api/versions/{response.json()['id']}/").json()
    assert version["status"] == "failed"
    assert "none of it ran: freeze again once the broker is back" in version["error"]
    # and the project is free to freeze again
    again = client_for(team.lead).post(f"/api/projects/{team.project.pk}/versions/", {}, format="json")
    assert again.status_code == 202


def test_background_work_a_sweep_redoes_does_not_fail_the_request(
    team: Team, broker_down: list[str], django_capture_on_commit_callbacks: Any
) -> None:
    team.project.labeling_order = LabelingOrder.NOVELTY
    team.project.save()

    with django_capture_on_commit_callbacks(execute=True):
        assert priorities_refresh(team.project) is None

    assert broker_down == ["curation.labeling_novelty"]


def test_a_job_a_worker_took_meanwhile_is_not_failed(team: Team) -> None:
    job = DedupJob.objects.create(project=team.project, created_by=team.lead, method="exact")
    DedupJob.objects.filter(pk=job.pk).update(status=JobStatus.RUNNING)

    assert job_fail_if_queued(job, NOT_QUEUED) is False
    job.refresh_from_db()
    assert (job.status, job.error) == (JobStatus.RUNNING, "")


def test_with_a_broker_the_job_is_sent_once_committed(
    team: Team, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        job = one_row_import(team)
    job.refresh_from_db()
    assert (job.status, job.created) == (JobStatus.SUCCEEDED, 1)
    assert ImportJob.objects.count() == 1
