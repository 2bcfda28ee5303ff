"""Training runs on a real Celery worker consuming the `gpu` queue on Redis (on the CPU here).

A run launched over the API travels through the broker to the worker and ends with a stored
adapter and its metrics. A worker killed with SIGKILL in the middle of a run leaves it `running`
with a checkpoint; when the task is delivered again (as Redis does once its visibility timeout
passes) a fresh worker resumes from that checkpoint and finishes the run.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from curation.models import JobStatus
from tests.conftest import Team
from tests.integration import test_worker
from tests.integration.test_worker import StartWorker, Worker
from tests.training.support import FAST, FreezeFn
from training import tasks
from training.models import TrainingRun

start_worker = test_worker.start_worker
redis_url = test_worker.redis_url

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

WORKER_SETTINGS = "tests.integration.worker_settings"
RUN_TIMEOUT_S = 300.0  # generous: a loaded CI machine trains slowly, and a pass returns early


def _send(broker_url: str, run_id: int) -> None:
    """Send `training.train` to the `gpu` queue as a web process does."""
    test_worker._send(broker_url, run_id, task="training.train", queue="gpu")


def _gpu_worker(start: StartWorker, finch_home: Path, broker_url: str) -> Worker:
    return start(
        finch_home=finch_home,
        broker_url=broker_url,
        queues="gpu",
        extra_env={"DJANGO_SETTINGS_MODULE": WORKER_SETTINGS},
    )


def _wait(run_id: int, worker: Worker, until: Any, what: str) -> TrainingRun:
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while True:
        run = TrainingRun.objects.get(pk=run_id)
        if until(run):
            return run
        if worker.process.poll() is not None:
            pytest.fail(f"The worker exited before the run was {what} ({run.status}).\n{worker.output()}")
        if time.monotonic() > deadline:
            pytest.fail(
                f"Run {run_id} not {what} after {RUN_TIMEOUT_S:.0f} s ({run.status}).\n{worker.output()}"
            )
        time.sleep(0.05)


def test_a_run_launched_over_the_api_trains_on_a_gpu_queue_worker(
    team: Team,
    frozen: FreezeFn,
    tiny_model: str,
    client_for: Any,
    start_worker: StartWorker,
    redis_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    version = frozen(team.project, team.lead)
    worker = _gpu_worker(start_worker, tmp_path / "home", redis_url)
    # The test settings run tasks eagerly; this process sends through the broker instead.
    monkeypatch.setattr(tasks.train, "delay", lambda run_id: _send(redis_url, run_id))

    response = client_for(team.lead).post(
        "/api/training-runs/",
        {"version": version.pk, "base_model": tiny_model, "hyperparameters": FAST},
        format="json",
    )
    assert response.status_code == 202, response.json()

    run = _wait(response.json()["id"], worker, lambda run: run.is_finished, "finished")
    assert run.status == JobStatus.SUCCEEDED, f"{run.error}\n{run.traceback}\n{worker.output()}"
    assert run.host.endswith(f":{worker.process.pid}")  # trained in the worker, not here
    assert run.adapter_sha256 and run.step == run.total_steps
    assert run.metrics.filter(eval_loss__isnull=False).count() >= 2


def test_a_killed_worker_s_run_resumes_from_its_checkpoint_on_redelivery(
    team: Team,
    frozen: FreezeFn,
    tiny_model: str,
    start_worker: StartWorker,
    redis_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from training.services import run_create

    version = frozen(team.project, team.lead)
    home = tmp_path / "home"  # both workers share it: it holds the checkpoints (storage)
    first = _gpu_worker(start_worker, home, redis_url)
    monkeypatch.setattr(tasks.train, "delay", lambda run_id: _send(redis_url, run_id))
    settings = {**FAST, "epochs": 40, "checkpoint_steps": 5, "eval_steps": 20, "early_stopping_patience": 0}
    run = run_create(version=version, user=team.lead, base_model=tiny_model, hyperparameters=settings)

    # When the worker is killed once the run is past its second checkpoint
    _wait(run.pk, first, lambda run: run.step >= 12, "past step 12")
    first.process.kill()
    first.process.wait()
    killed = TrainingRun.objects.get(pk=run.pk)
    assert killed.status == JobStatus.RUNNING and killed.step < killed.total_steps

    # Then a fresh worker given the task again resumes from the last checkpoint and finishes
    second = _gpu_worker(start_worker, home, redis_url)
    _send(redis_url, run.pk)
    done = _wait(run.pk, second, lambda run: run.is_finished, "finished")
    assert done.status == JobStatus.SUCCEEDED, f"{done.error}\n{done.traceback}\n{second.output()}"
    assert done.attempts == 2
    # A checkpoint (every 5 steps) from past step 10; the step recorded in the database may lag
    # the last checkpoint by a few steps (it is written with the heartbeat), so no upper bound here.
    assert done.resumed_from_step is not None and done.resumed_from_step >= 10
    assert done.resumed_from_step % 5 == 0 and done.resumed_from_step < done.total_steps
    assert done.step == done.total_steps == 240
    assert done.host.endswith(f":{second.process.pid}")
