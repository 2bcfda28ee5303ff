"""A job whose message the broker lost is sent again by beat's sweep, and a job delivered twice
runs once: the worker that takes it claims it, and a delivery while a live worker holds it is
dropped."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from celery import current_app
from django.utils import timezone

from curation.models import (
    DatasetVersion,
    DedupJob,
    ExampleStatus,
    JobHeartbeat,
    JobStatus,
    ValidationJob,
    VersionStatus,
)
from curation.services.dispatch import _resend_due, lost_messages_resend
from curation.services.heartbeat import heartbeat_claim
from curation.services.jobs import job_run
from curation.services.reaping import CURATION_WAITING
from curation.tasks import reap_stale_jobs
from tests.conftest import Team
from tests.factories import ExampleFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_in_tmp")]


def waited(job: Any, seconds: float) -> None:
    type(job).objects.filter(pk=job.pk).update(created_at=timezone.now() - timedelta(seconds=seconds))


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """The tasks the sweep sends (name, id), not run."""
    found: list[tuple[str, int]] = []
    for name in ("curation.dedup_examples", "curation.validate_examples", "curation.freeze_version"):
        task = current_app.tasks[name]
        monkeypatch.setattr(task, "delay", lambda pk, name=name: found.append((name, pk)))
    return found


@pytest.mark.parametrize(
    ("age", "due"),
    [(600, True), (659, True), (660, False), (1199, False), (1200, True), (2430, True), (2500, False)],
)
def test_a_waiting_job_is_sent_again_at_the_age_then_twice_and_four_times_it(age: float, due: bool) -> None:
    assert _resend_due(age, 600) is due


def test_a_queued_job_whose_message_was_lost_runs_once_the_sweep_sends_it_again(team: Team) -> None:
    # Given a dedup job queued eleven minutes ago whose message never reached a worker
    ExampleFactory.create(project=team.project, input="Card stuck")
    ExampleFactory.create(project=team.project, input="card stuck!")
    job = DedupJob.objects.create(project=team.project, created_by=team.lead, method="exact")
    waited(job, 601)

    # When beat's sweep runs (tasks run eagerly here, as a worker would take them)
    assert reap_stale_jobs() == 1

    # Then the job ran
    job.refresh_from_db()
    assert (job.status, job.duplicates_marked) == (JobStatus.SUCCEEDED, 1)


def test_the_sweep_leaves_young_running_and_finished_jobs_alone(
    team: Team, sent: list[tuple[str, int]]
) -> None:
    young = DedupJob.objects.create(project=team.project, created_by=team.lead, method="exact")
    waited(young, 300)
    running = DedupJob.objects.create(
        project=team.project, created_by=team.lead, method="exact", status=JobStatus.RUNNING
    )
    finished = ValidationJob.objects.create(
        project=team.project, created_by=team.lead, status=JobStatus.FAILED
    )
    lost = ValidationJob.objects.create(project=team.project, created_by=team.lead)
    for job in (running, finished, lost):
        waited(job, 620)

    assert lost_messages_resend(CURATION_WAITING) == 1
    assert sent == [("curation.validate_examples", lost.pk)]


def test_the_sweep_is_off_at_zero(team: Team, sent: list[tuple[str, int]], settings: Any) -> None:
    settings.FINCH_JOB_RESEND_AFTER_S = 0
    waited(DedupJob.objects.create(project=team.project, created_by=team.lead, method="exact"), 620)

    assert lost_messages_resend(CURATION_WAITING) == 0
    assert sent == []


def test_a_freeze_no_worker_took_is_sent_again_and_one_being_frozen_is_not(
    team: Team, sent: list[tuple[str, int]]
) -> None:
    lost = DatasetVersion.objects.create(project=team.project, number=1, eval_fraction=0.2)
    taken = DatasetVersion.objects.create(project=team.project, number=2, eval_fraction=0.2)
    heartbeat_claim(taken)
    for version in (lost, taken):
        waited(version, 610)

    assert lost_messages_resend(CURATION_WAITING) == 1
    assert sent == [("curation.freeze_version", lost.pk)]


def test_a_second_delivery_while_a_live_worker_holds_the_job_is_dropped(team: Team) -> None:
    # Given a job a worker took a moment ago (its heartbeat fresh)
    job = DedupJob.objects.create(project=team.project, created_by=team.lead, method="exact")
    DedupJob.objects.filter(pk=job.pk).update(status=JobStatus.RUNNING)
    heartbeat_claim(job)
    ran: list[int] = []

    # When its task is delivered again
    job_run(DedupJob, job.pk, lambda job, progress: ran.append(job.pk))

    # Then the delivery does nothing: the job stays with its worker
    job.refresh_from_db()
    assert (ran, job.status) == ([], JobStatus.RUNNING)


def test_a_delivery_of_a_job_whose_worker_went_silent_takes_it_over(team: Team, settings: Any) -> None:
    job = DedupJob.objects.create(project=team.project, created_by=team.lead, method="exact")
    DedupJob.objects.filter(pk=job.pk).update(status=JobStatus.RUNNING)
    heartbeat_claim(job)
    stale = timezone.now() - timedelta(seconds=settings.FINCH_JOB_HEARTBEAT_TIMEOUT_S + 1)
    JobHeartbeat.objects.filter(object_id=job.pk).update(beat_at=stale)
    ran: list[int] = []

    job_run(DedupJob, job.pk, lambda job, progress: ran.append(job.pk))

    job.refresh_from_db()
    assert (ran, job.status) == ([job.pk], JobStatus.SUCCEEDED)
    assert not JobHeartbeat.objects.exists()  # forgotten once it finished


def test_a_freeze_delivered_twice_is_frozen_once(team: Team) -> None:
    from curation.tasks import freeze_version

    for index in range(4):
        ExampleFactory.create(project=team.project, input=f"Question {index}", status=ExampleStatus.APPROVED)
    version = DatasetVersion.objects.create(project=team.project, number=1, eval_fraction=0.25)
    heartbeat_claim(version)  # a live worker is freezing it

    freeze_version(version.pk)  # the second delivery

    version.refresh_from_db()
    assert (version.status, version.items.count()) == (VersionStatus.FREEZING, 0)
