"""Workers killed with SIGKILL in the middle of an import, a freeze, an export, an evaluation and a
suggestion run.

Each test runs the work on a real Celery worker (Redis broker, the test database), kills the
worker once the work is visibly under way, and checks that the database holds nothing half
made; then the reaper, once the heartbeat is past the timeout, fails the job saying why, and the
same work on a fresh worker succeeds. Dedup jobs: tests/integration/test_dedup_worker.py;
training runs (which resume instead): tests/integration/test_training_worker.py.
"""

from __future__ import annotations

import hashlib
import io
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.core.files.storage import default_storage

from curation.models import (
    DatasetVersion,
    Example,
    ExampleStatus,
    ExportJob,
    ImportJob,
    JobHeartbeat,
    JobStatus,
    LabelingItem,
    Project,
    Suggestion,
    VersionItem,
    VersionStatus,
)
from curation.services.export_jobs import export_job_create, partial_path, published_name
from curation.services.imports import import_job_create
from curation.services.labeling import items_enqueue
from curation.services.reaping import curation_jobs_reap
from curation.services.suggestion_use import latest_suggestion
from curation.services.versions import version_create
from evaluation.models import EvalPrediction, EvalRun, SuggestionRun
from evaluation.services import eval_run_create, eval_runs_reap
from evaluation.suggestions import suggestion_run_create, suggestion_runs_reap
from tests.conftest import Team
from tests.factories import ProjectFactory, many_examples
from tests.integration import test_worker
from tests.integration.test_worker import StartWorker, Worker
from tests.training.support import FreezeFn

start_worker = test_worker.start_worker
redis_url = test_worker.redis_url

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

WORKER_SETTINGS = "tests.integration.worker_settings"
TIMEOUT_S = 180.0
IMPORT_ROWS = 200_000
FREEZE_ROWS = 60_000
EXPORT_ROWS = 200_000


def _worker(start: StartWorker, home: Path, broker_url: str, queues: str = "celery") -> Worker:
    return start(
        finch_home=home,
        broker_url=broker_url,
        queues=queues,
        extra_env={"DJANGO_SETTINGS_MODULE": WORKER_SETTINGS},
    )


def _wait(worker: Worker, until: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + TIMEOUT_S
    while not until():
        if worker.process.poll() is not None:
            pytest.fail(f"The worker exited before {what}.\n{worker.output()}")
        if time.monotonic() > deadline:
            pytest.fail(f"Not {what} after {TIMEOUT_S:.0f} s.\n{worker.output()}")
        time.sleep(0.02)


def _kill(worker: Worker) -> None:
    worker.process.kill()
    worker.process.wait(timeout=10)


def _reap_after_timeout(reap: Callable[[], int], settings: Any) -> int:
    """Run the reaper as beat would once the dead worker's heartbeat is older than the timeout."""
    settings.FINCH_JOB_HEARTBEAT_TIMEOUT_S = 1
    time.sleep(1.5)
    return reap()


def _rows_file(count: int) -> bytes:
    return b"".join(
        json.dumps({"input": f"Where is my card number {n}?", "output": "card_arrival"}).encode() + b"\n"
        for n in range(count)
    )


def test_a_killed_import_keeps_whole_rows_only_and_importing_again_completes_it(
    team: Team, start_worker: StartWorker, redis_url: str, tmp_path: Path, settings: Any
) -> None:
    # Given a large file queued for import on a worker
    settings.MEDIA_ROOT = str(tmp_path / "home" / "media")  # the worker's storage holds the upload
    worker = _worker(start_worker, tmp_path / "home", redis_url)
    project: Project = team.project
    data = _rows_file(IMPORT_ROWS)
    job = import_job_create(
        project=project, user=team.lead, upload=io.BytesIO(data), filename="big.jsonl", queue=False
    )
    test_worker._send(redis_url, job.pk, task="curation.import_examples")

    # When the worker is killed once the first rows have landed
    landed = Example.objects.filter(project=project, source=f"import:{job.pk}")
    _wait(worker, landed.exists, "the first rows landed")
    _kill(worker)

    # Then the job is still running, every landed row is whole, and fewer than all landed
    job.refresh_from_db()
    assert job.status == JobStatus.RUNNING, (
        f"the import ended before the kill: use a larger file ({job.status})"
    )
    kept = landed.count()
    assert 0 < kept < IMPORT_ROWS
    assert not landed.filter(output="").exists() and not landed.filter(content_hash="").exists()

    # When the reaper runs, then the job failed, saying how many rows it kept, and its upload is gone
    upload = Path(settings.MEDIA_ROOT) / job.file.name
    assert upload.exists()
    assert _reap_after_timeout(curation_jobs_reap, settings) == 1
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED and job.created == kept
    assert f"{kept} rows were imported before it stopped" in job.error
    assert not upload.exists() and job.file.name == ""

    # When the same file is imported again on a fresh worker, then exactly the rest lands
    fresh = _worker(start_worker, tmp_path / "home", redis_url)
    again = import_job_create(
        project=project, user=team.lead, upload=io.BytesIO(data), filename="big.jsonl", queue=False
    )
    test_worker._send(redis_url, again.pk, task="curation.import_examples")
    _wait(fresh, lambda: ImportJob.objects.get(pk=again.pk).is_finished, "the second import finished")
    again.refresh_from_db()
    assert again.status == JobStatus.SUCCEEDED, f"{again.error}\n{fresh.output()}"
    assert (again.created, again.skipped_existing) == (IMPORT_ROWS - kept, kept)
    assert Example.objects.filter(project=project).count() == IMPORT_ROWS


def test_a_killed_freeze_leaves_no_items_and_freezing_again_succeeds(
    team: Team, start_worker: StartWorker, redis_url: str, tmp_path: Path, settings: Any, monkeypatch: Any
) -> None:
    from curation import tasks

    # Given a project large enough that its freeze runs as a task, on a worker
    settings.MEDIA_ROOT = str(tmp_path / "home" / "media")
    project: Project = ProjectFactory.create()
    many_examples(
        project, ((f"Freeze row {n}", "card_arrival") for n in range(FREEZE_ROWS)), ExampleStatus.APPROVED
    )
    worker = _worker(start_worker, tmp_path / "home", redis_url)
    monkeypatch.setattr(
        tasks.freeze_version,
        "delay",
        lambda pk: test_worker._send(redis_url, pk, task=tasks.freeze_version.name),
    )
    version = version_create(project=project, user=team.staff, eval_fraction=0.1)
    assert version.status == VersionStatus.FREEZING

    # When the worker is killed a moment after the freeze started
    beat = JobHeartbeat.objects.filter(kind="curation.datasetversion", object_id=version.pk)
    _wait(worker, beat.exists, "the freeze started")
    time.sleep(0.5)
    _kill(worker)

    # Then the version is still freezing, with no item copied (the copy is one transaction)
    version.refresh_from_db()
    assert version.status == VersionStatus.FREEZING, "the freeze ended before the kill: freeze more rows"
    assert not VersionItem.objects.filter(version=version).exists()

    # When the reaper runs, then the version failed and says to freeze again
    assert _reap_after_timeout(curation_jobs_reap, settings) == 1
    version.refresh_from_db()
    assert version.status == VersionStatus.FAILED and "freeze again" in version.error

    # When the lead freezes again on a fresh worker, then the new version is frozen whole
    fresh = _worker(start_worker, tmp_path / "home", redis_url)
    again = version_create(project=project, user=team.staff, eval_fraction=0.1)
    _wait(fresh, lambda: DatasetVersion.objects.get(pk=again.pk).is_finished, "the second freeze finished")
    again.refresh_from_db()
    assert again.status == VersionStatus.FROZEN, f"{again.error}\n{fresh.output()}"
    assert VersionItem.objects.filter(version=again).count() == FREEZE_ROWS


def test_a_killed_export_never_leaves_a_file_that_looks_complete(
    team: Team, start_worker: StartWorker, redis_url: str, tmp_path: Path, settings: Any, monkeypatch: Any
) -> None:
    from curation import tasks

    # Given a project large enough that its export takes a while, and a worker sharing FINCH_HOME
    settings.MEDIA_ROOT = str(tmp_path / "home" / "media")
    settings.FILE_UPLOAD_TEMP_DIR = tmp_path / "home" / "tmp"  # where the worker writes partial files
    project: Project = team.project
    many_examples(project, ((f"Export row {n}", "card_arrival") for n in range(EXPORT_ROWS)))
    worker = _worker(start_worker, tmp_path / "home", redis_url)
    monkeypatch.setattr(
        tasks.export_data, "delay", lambda pk: test_worker._send(redis_url, pk, task=tasks.export_data.name)
    )
    job = export_job_create(project=project, user=team.annotator, file_format="jsonl", filters={})

    # When the worker is killed while it writes the file
    partial = partial_path(job)
    _wait(worker, lambda: partial.exists() and partial.stat().st_size > 0, "the export started writing")
    _kill(worker)

    # Then the job is still running, with no row count, size, hash or published file
    job.refresh_from_db()
    assert job.status == JobStatus.RUNNING, "the export ended before the kill: export more rows"
    assert (job.row_count, job.size, job.sha256, job.file_name) == (None, None, "", "")
    assert not default_storage.exists(published_name(job))
    assert partial.stat().st_size > 0  # what the worker had written stays only under its partial name

    # When the reaper runs, then the job failed saying why, and the partial file is gone
    assert _reap_after_timeout(curation_jobs_reap, settings) == 1
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED and job.error.startswith("No heartbeat from its worker")
    assert not partial.exists() and not default_storage.exists(published_name(job))

    # When the export runs again on a fresh worker, then its file is whole: every row, its sha256
    fresh = _worker(start_worker, tmp_path / "home", redis_url)
    again = export_job_create(project=project, user=team.annotator, file_format="jsonl", filters={})
    _wait(fresh, lambda: ExportJob.objects.get(pk=again.pk).is_finished, "the second export finished")
    again.refresh_from_db()
    assert again.status == JobStatus.SUCCEEDED, f"{again.error}\n{fresh.output()}"
    with default_storage.open(again.file_name, "rb") as handle:
        data = handle.read()
    assert again.row_count == data.count(b"\n") == EXPORT_ROWS
    assert (again.size, again.sha256) == (len(data), hashlib.sha256(data).hexdigest())


def test_a_killed_evaluation_stores_no_prediction_and_running_it_again_succeeds(
    team: Team,
    frozen: FreezeFn,
    tiny_model: str,
    start_worker: StartWorker,
    redis_url: str,
    tmp_path: Path,
    settings: Any,
) -> None:
    # Given a baseline eval run of the tiny model over 120 eval items, on a `gpu` worker
    version = frozen(team.project, team.lead, count=240, eval_fraction=0.5)
    worker = _worker(start_worker, tmp_path / "home", redis_url, queues="gpu")
    run = eval_run_create(version=version, user=team.lead, base_model=tiny_model, queue=False)
    test_worker._send(redis_url, run.pk, task="evaluation.evaluate", queue="gpu")

    # When the worker is killed once the first answers are counted
    _wait(worker, lambda: EvalRun.objects.get(pk=run.pk).progress > 0, "the first answers")
    _kill(worker)

    # Then the run is still running, and no prediction was stored
    run.refresh_from_db()
    assert run.status == JobStatus.RUNNING, "the evaluation ended before the kill: use more items"
    assert not EvalPrediction.objects.filter(run=run).exists()

    # When the reaper runs, then the run failed, saying why
    assert _reap_after_timeout(eval_runs_reap, settings) == 1
    run.refresh_from_db()
    assert run.status == JobStatus.FAILED and run.error.startswith("No heartbeat from its worker")

    # When the same evaluation runs again on a fresh worker, then it scores every item
    fresh = _worker(start_worker, tmp_path / "home", redis_url, queues="gpu")
    again = eval_run_create(version=version, user=team.lead, base_model=tiny_model, queue=False)
    test_worker._send(redis_url, again.pk, task="evaluation.evaluate", queue="gpu")
    _wait(fresh, lambda: EvalRun.objects.get(pk=again.pk).is_finished, "the second evaluation finished")
    again.refresh_from_db()
    assert again.status == JobStatus.SUCCEEDED, f"{again.error}\n{fresh.output()}"
    assert again.n == EvalPrediction.objects.filter(run=again).count() == version.counts["eval"]


def test_a_killed_suggestion_run_shows_no_suggestion_and_running_it_again_succeeds(
    team: Team,
    tiny_model: str,
    start_worker: StartWorker,
    redis_url: str,
    tmp_path: Path,
    settings: Any,
) -> None:
    # Given a suggestion run of the tiny model over 1,500 queued inputs, on a `gpu` worker
    team.project.labels = ["card_arrival", "exchange_rate", "lost_or_stolen_card"]
    team.project.save()
    inputs = [{"input": f"Where is my card number {n}?"} for n in range(1500)]
    for start in range(0, len(inputs), 1000):
        items_enqueue(project=team.project, user=team.lead, inputs=inputs[start : start + 1000])
    worker = _worker(start_worker, tmp_path / "home", redis_url, queues="gpu")
    run = suggestion_run_create(project=team.project, user=team.lead, base_model=tiny_model, queue=False)
    test_worker._send(redis_url, run.pk, task="evaluation.suggest", queue="gpu")

    # When the worker is killed once a first chunk of suggestions is stored
    _wait(worker, lambda: SuggestionRun.objects.get(pk=run.pk).n_done > 0, "the first suggestions")
    _kill(worker)

    # Then the run is still running and no item shows a suggestion of it
    run.refresh_from_db()
    assert run.status == JobStatus.RUNNING, "the run ended before the kill: use more inputs"
    item = LabelingItem.objects.filter(project=team.project).order_by("id").first()
    assert item is not None and latest_suggestion(item=item) is None

    # When the reaper runs, then the run failed, saying why, and what it stored is gone
    assert _reap_after_timeout(suggestion_runs_reap, settings) == 1
    run.refresh_from_db()
    assert run.status == JobStatus.FAILED and run.error.startswith("No heartbeat from its worker")
    assert not Suggestion.objects.filter(run=run).exists()

    # When the same run is started again on a fresh worker, then every input gets a suggestion
    fresh = _worker(start_worker, tmp_path / "home", redis_url, queues="gpu")
    again = suggestion_run_create(project=team.project, user=team.lead, base_model=tiny_model, queue=False)
    test_worker._send(redis_url, again.pk, task="evaluation.suggest", queue="gpu")
    _wait(fresh, lambda: SuggestionRun.objects.get(pk=again.pk).is_finished, "the second run finished")
    again.refresh_from_db()
    assert again.status == JobStatus.SUCCEEDED, f"{again.error}\n{fresh.output()}"
    assert Suggestion.objects.filter(run=again).count() == len(inputs)
    found = latest_suggestion(item=item)
    assert found is not None and found.run_id == again.pk
