"""Data-parallel runs for real, on the CPU: the task starts torchrun with two processes (gloo),
supervises them (heartbeat, cancel by ending the process group, failure with their output), and
rank 0 alone writes the metrics and the adapter.

The processes reach this test's database and media folder through their environment, as a GPU
worker's processes reach the worker's. Transactional tests, so that they see committed rows; there
the launch's on_commit runs the (eager) task at once: `run_create` trains the run.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from django.core.files.storage import default_storage

from curation.models import DatasetVersion, JobStatus
from tests.conftest import Team
from tests.integration.test_worker import _test_database_url
from tests.training.support import FAST, FreezeFn
from training import launcher
from training.models import TrainingRun
from training.services import run_cancel, run_create

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.any_database]

# LoRA dropout draws different masks on a share than on the whole batch: off, so that one
# process and two give the same adapter up to float rounding.
LORA = {"dropout": 0.0}


@pytest.fixture
def two_cpu_processes(settings: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    settings.FINCH_GPU_COUNT = 2
    settings.FINCH_TRAINING_CPU_DATA_PARALLEL = True  # the test-only switch: gloo on the CPU
    settings.MEDIA_ROOT = str(home / "media")
    monkeypatch.setenv("DATABASE_URL", _test_database_url())
    monkeypatch.setenv("FINCH_HOME", str(home))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")


def _launch(version: DatasetVersion, model: str, **hyperparameters: Any) -> TrainingRun:
    """Launch a run; the task trains it before this returns (see above)."""
    run = run_create(
        version=version, user=None, base_model=model, lora=LORA, hyperparameters={**FAST, **hyperparameters}
    )
    run.refresh_from_db()
    return run


def _evals(run: TrainingRun) -> list[tuple[int, float]]:
    return [(m.step, m.eval_loss) for m in run.metrics.order_by("step", "id") if m.eval_loss is not None]


def _stored_sha256(name: str) -> str:
    with default_storage.open(name, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


def _ranks_alive(run_id: int) -> list[int]:
    """Processes of this run's torchrun still alive (their command names the run)."""
    alive = []
    for entry in Path("/proc").iterdir():
        try:
            words = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"training.distributed" in words and str(run_id).encode() in words:
            alive.append(int(entry.name))
    return alive


@pytest.mark.usefixtures("two_cpu_processes")
def test_two_processes_train_the_adapter_one_process_trains(
    team: Team, frozen: FreezeFn, tiny_model: str
) -> None:
    version = frozen(team.project, team.lead)
    one = _launch(version, tiny_model, gpus=1)
    two = _launch(version, tiny_model)  # "all": the worker's two

    assert one.status == two.status == JobStatus.SUCCEEDED, two.error
    assert one.environment["training"] == {"processes": 1, "device": "cpu", "backend": None, "launcher": None}
    assert two.environment["training"] == {
        "processes": 2,
        "device": "cpu",
        "backend": "gloo",
        "launcher": "torchrun",
    }
    assert two.step == two.total_steps == one.total_steps == 18
    # Rank 0 alone wrote: each evaluation once, at the steps of the one-process run.
    assert [step for step, _ in _evals(two)] == [step for step, _ in _evals(one)]
    # Each process took half of every batch; DDP made the gradients those of the whole batch.
    assert [loss for _, loss in _evals(two)] == pytest.approx([loss for _, loss in _evals(one)], rel=1e-3)
    assert two.best_step == one.best_step
    assert two.adapter_sha256 == _stored_sha256(f"{two.adapter_path}/adapter_model.safetensors")
    assert two.heartbeat_at is not None and two.started_at is not None
    assert two.heartbeat_at >= two.started_at


@pytest.mark.usefixtures("two_cpu_processes")
def test_cancel_ends_every_process_of_the_run(
    team: Team, frozen: FreezeFn, tiny_model: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    version = frozen(team.project, team.lead)
    beats: list[int] = []
    beat = launcher.heartbeat

    def cancel_once_training(run: TrainingRun) -> None:
        """The task's heartbeat; once rank 0 reports steps, a lead cancels."""
        beat(run)
        beats.append(TrainingRun.objects.get(pk=run.pk).step)
        if beats[-1] >= 2 and not run.cancel_requested:
            run.cancel_requested = True
            run_cancel(run=TrainingRun.objects.get(pk=run.pk), user=None)

    monkeypatch.setattr(launcher, "HEARTBEAT_EVERY_S", 0.2)
    monkeypatch.setattr(launcher, "heartbeat", cancel_once_training)
    run = _launch(version, tiny_model, epochs=50)

    assert run.status == JobStatus.CANCELLED, beats
    assert 2 <= run.step < run.total_steps == 300
    assert len(beats) > 1 and beats[0] == 0  # the task beat while the processes loaded the model
    assert _ranks_alive(run.pk) == []  # torchrun and both workers are gone
    assert not run.adapter_sha256


@pytest.mark.usefixtures("two_cpu_processes")
def test_processes_that_fail_fail_the_run_with_their_output(
    team: Team, frozen: FreezeFn, tiny_model: str, tmp_path: Path
) -> None:
    # The task's preflight reads config.json and the tokenizer; the processes load the weights.
    broken = tmp_path / "broken-weights"
    shutil.copytree(tiny_model, broken)
    (broken / "model.safetensors").write_bytes(b"not a safetensors file")

    run = _launch(frozen(team.project, team.lead), str(broken))

    assert run.status == JobStatus.FAILED
    assert run.error.startswith("The 2 training processes (torchrun) exited with status 1.")
    assert "The end of their output:" in run.error and "safetensors" in run.error.lower()
    assert run.step == 0 and not run.metrics.exists()
    assert os.environ.get("FINCH_TRAINING_CPU_DATA_PARALLEL") is None  # a setting, never inherited
