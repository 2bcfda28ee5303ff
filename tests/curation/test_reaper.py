"""Heartbeats and the reaper: a job whose worker died is failed, cleaned up, and can run again.

The worker's death is staged here by what it leaves behind (a running row, a heartbeat that
stopped, the partial work); tests/integration/test_killed_workers.py kills real workers.
"""

from __future__ import annotations

import io
import time
from datetime import timedelta

import pytest
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone

from curation.models import (
    DatasetVersion,
    DedupJob,
    Example,
    ExampleStatus,
    ImportJob,
    JobHeartbeat,
    JobStatus,
    ValidationJob,
    VersionItem,
    VersionStatus,
)
from curation.services import heartbeat
from curation.services.imports import import_job_create
from curation.services.reaping import curation_jobs_reap
from curation.services.versions import version_create
from curation.tasks import import_examples, validate_examples
from evaluation.models import EvalPrediction, EvalRun
from evaluation.services import eval_runs_reap
from tests.conftest import Team
from tests.factories import ExampleFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_in_tmp")]

ROWS = b"".join(b'{"input": "Where is card %d?", "output": "card_arrival"}\n' % n for n in range(6))


def went_silent(row: object, seconds_ago: float | None = None) -> None:
    """Stamp the row's heartbeat as a worker last did, `seconds_ago` (past the timeout by default)."""
    ago = settings.FINCH_JOB_HEARTBEAT_TIMEOUT_S + 60 if seconds_ago is None else seconds_ago
    JobHeartbeat.objects.update_or_create(
        kind=row._meta.label_lower,  # type: ignore[attr-defined]
        object_id=row.pk,  # type: ignore[attr-defined]
        defaults={"beat_at": timezone.now() - timedelta(seconds=ago), "host": "gpu-7:4242"},
    )


def an_import(team: Team) -> ImportJob:
    return import_job_create(
        project=team.project, user=team.annotator, upload=io.BytesIO(ROWS), filename="rows.jsonl", queue=False
    )


def test_a_job_run_leaves_no_heartbeat_behind(team: Team) -> None:
    job = an_import(team)
    import_examples(job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED
    assert not JobHeartbeat.objects.exists()


def test_a_silent_import_is_failed_with_its_kept_rows_and_the_file_imports_again(team: Team) -> None:
    # Given an import whose worker merged two rows, then stopped beating long ago
    job = an_import(team)
    ImportJob.objects.filter(pk=job.pk).update(status=JobStatus.RUNNING, started_at=timezone.now())
    for n in range(2):
        ExampleFactory.create(
            project=team.project,
            input=f"Where is card {n}?",
            output="card_arrival",
            source=f"import:{job.pk}",
        )
    went_silent(job)

    # When the reaper runs
    assert curation_jobs_reap() == 1

    # Then the job failed, saying why, what it kept and what to do; its heartbeat is gone
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED and job.finished_at is not None
    assert "No heartbeat from its worker (gpu-7:4242)" in job.error
    assert "2 rows were imported before it stopped and are kept" in job.error
    assert job.created == 2
    assert not JobHeartbeat.objects.exists()

    # And importing the same file again adds only the four other rows
    again = an_import(team)
    import_examples(again.pk)
    again.refresh_from_db()
    assert (again.status, again.created, again.skipped_existing) == (JobStatus.SUCCEEDED, 4, 2)
    assert Example.objects.filter(project=team.project).count() == 6


def test_a_job_with_a_recent_heartbeat_or_already_finished_is_left_alone(team: Team) -> None:
    alive = ValidationJob.objects.create(project=team.project, status=JobStatus.RUNNING)
    went_silent(alive, seconds_ago=settings.FINCH_JOB_HEARTBEAT_TIMEOUT_S / 2)
    done = ValidationJob.objects.create(project=team.project, status=JobStatus.SUCCEEDED)
    went_silent(done)

    assert curation_jobs_reap() == 0
    assert ValidationJob.objects.get(pk=alive.pk).status == JobStatus.RUNNING
    assert ValidationJob.objects.get(pk=done.pk).status == JobStatus.SUCCEEDED


def test_a_reaped_job_is_not_run_by_its_redelivered_task(team: Team) -> None:
    job = ValidationJob.objects.create(project=team.project, status=JobStatus.RUNNING)
    went_silent(job)
    curation_jobs_reap()
    validate_examples(job.pk)  # the broker hands the dead worker's message to another worker
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED and "run it again" in job.error


def test_a_silent_dedup_job_loses_its_chunk_sketches(team: Team) -> None:
    job = DedupJob.objects.create(
        project=team.project, method="minhash", status=JobStatus.RUNNING, chunk_bounds=[[1, 10], [11, 20]]
    )
    sketch = default_storage.save(f"dedup-sketches/job-{job.pk}/chunk-00000.npz", ContentFile(b"sketch"))
    went_silent(job)

    assert curation_jobs_reap() == 1
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED and "Nothing of it was applied" in job.error
    assert not default_storage.exists(sketch)


def test_a_silent_freeze_fails_without_its_items_and_the_lead_freezes_again(team: Team) -> None:
    # Given a freeze that copied items and wrote files, then its worker stopped beating
    examples = [
        ExampleFactory.create(project=team.project, status=ExampleStatus.APPROVED, input=f"Freeze {n}")
        for n in range(3)
    ]
    version = DatasetVersion.objects.create(project=team.project, number=1, eval_fraction=0.34)
    VersionItem.objects.bulk_create(
        VersionItem(version=version, example_id=e.pk, split="train", input=e.input, output=e.output)
        for e in examples
    )
    went_silent(version)

    assert curation_jobs_reap() == 1

    # Then the version failed, saying so, and kept no item
    version.refresh_from_db()
    assert version.status == VersionStatus.FAILED and "freeze again" in version.error
    assert not VersionItem.objects.filter(version=version).exists()
    # And the lead freezes again
    again = version_create(project=team.project, user=team.lead, eval_fraction=0.34)
    assert again.status == VersionStatus.FROZEN
    assert VersionItem.objects.filter(version=again).count() == 3


def test_a_silent_eval_run_is_failed_and_its_predictions_dropped(team: Team) -> None:
    for n in range(3):
        ExampleFactory.create(project=team.project, status=ExampleStatus.APPROVED, input=f"Eval {n}")
    version = version_create(project=team.project, user=team.lead, eval_fraction=0.34)
    run = EvalRun.objects.create(version=version, base_model="/models/base", status=JobStatus.RUNNING)
    EvalPrediction.objects.create(run=run, example_id=1, input="q", reference="a", raw="a", scores={})
    went_silent(run)

    assert curation_jobs_reap() == 0  # eval runs have their own beat task
    assert eval_runs_reap() == 1
    run.refresh_from_db()
    assert run.status == JobStatus.FAILED and "No heartbeat" in run.error
    assert not EvalPrediction.objects.filter(run=run).exists()


def test_the_reapers_are_scheduled_every_minute() -> None:
    tasks = {entry["task"]: entry["schedule"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    for task in ("curation.reap_stale_jobs", "evaluation.reap_stale_runs", "training.reap_stale_runs"):
        assert tasks[task] == 60.0


@pytest.mark.django_db(transaction=True)
def test_a_running_job_keeps_stamping_its_heartbeat(team: Team, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given beats every 50 ms (outside a transaction, as in a worker)
    monkeypatch.setattr(heartbeat, "BEAT_EVERY_S", 0.05)
    job = ValidationJob.objects.create(project=team.project, status=JobStatus.RUNNING)

    # When work runs for a while inside `beating`
    with heartbeat.beating(job):
        first = JobHeartbeat.objects.get(object_id=job.pk).beat_at
        deadline = time.monotonic() + 5
        while JobHeartbeat.objects.get(object_id=job.pk).beat_at == first:
            assert time.monotonic() < deadline, "no second heartbeat within 5 s"
            time.sleep(0.05)

    # Then the heartbeat moved on, and a live job is never reaped
    assert curation_jobs_reap() == 0
