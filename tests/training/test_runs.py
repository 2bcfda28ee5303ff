"""Training runs through the services, eagerly (the worker tests run them on a real Celery worker):
a run to a stored adapter with its metrics and reproducibility record, early stopping, cancel,
a resume after a lost worker, the reaper, and every preflight failure."""

from __future__ import annotations

import hashlib
import logging
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.core.files.storage import default_storage
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerError

from curation.errors import InvalidInput
from curation.models import DatasetVersion, JobStatus, VersionStatus
from curation.services.dispatch import NOT_QUEUED
from tests.conftest import Team
from tests.training.support import FAST, FreezeFn
from training import artifacts, reporting, services
from training.models import TrainingRun
from training.services import run_cancel, run_create, run_execute, runs_reap

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_in_tmp")]


def launch(version: DatasetVersion, model: str, **hyperparameters: Any) -> TrainingRun:
    """Create a run without queueing it, then execute it here, as the worker would."""
    run = run_create(
        version=version, user=None, base_model=model, hyperparameters={**FAST, **hyperparameters}
    )
    run_execute(run.pk)
    run.refresh_from_db()
    return run


def stored_sha256(name: str) -> str:
    with default_storage.open(name, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


def test_a_run_trains_a_stored_adapter_with_metrics_and_a_record(
    team: Team, frozen: FreezeFn, tiny_model: str
) -> None:
    version = frozen(team.project, team.lead)
    run = launch(version, tiny_model)

    assert run.status == JobStatus.SUCCEEDED, run.error
    assert run.adapter_sha256 == stored_sha256(f"{run.adapter_path}/adapter_model.safetensors")
    assert default_storage.exists(f"{run.adapter_path}/adapter_config.json")
    assert run.best_eval_loss is not None and run.initial_eval_loss is not None
    assert run.best_eval_loss < run.initial_eval_loss
    assert run.step == run.total_steps == 18  # 48 train examples / 8 = 6 steps an epoch, 3 epochs
    metrics = list(run.metrics.all())
    assert [m.step for m in metrics if m.eval_loss is not None] == [0, 2, 4, 6, 8, 10, 12, 14, 16, 18]
    assert all(m.train_loss is not None and m.tokens_per_s for m in metrics if m.eval_loss is None)
    # The record a reproduction needs.
    assert run.version_sha256 == version.sha256
    assert len(run.base_model_config_sha256) == 64
    assert run.hyperparameters["epochs"] == 3 and run.hyperparameters["max_seq_length"] == 1024
    assert run.lora == {"r": 16, "alpha": 32, "dropout": 0.05, "target_modules": "all-linear"}
    assert {"torch", "transformers", "peft"} <= set(run.environment["packages"])
    assert "git_commit" in run.environment
    assert run.preflight["prompt_format"] == "chat_template"  # the tiny model carries one
    assert run.preflight["train"]["kept"] == 48 and run.preflight["eval"]["kept"] == 12
    # Checkpoints only serve a resume: a finished run keeps its adapter alone.
    assert artifacts.checkpoint_latest(run.pk) is None


def test_epochs_default_from_the_train_size(team: Team, frozen: FreezeFn, tiny_model: str) -> None:
    version = frozen(team.project, team.lead)
    run = run_create(version=version, user=None, base_model=tiny_model)
    assert run.hyperparameters["epochs"] == 3  # 48 x 3 = 144 examples seen: over 100, under 25,000
    assert run.hyperparameters["eval_steps"] == 2  # ceil(18 steps / 10 evaluations)


def test_only_a_frozen_version_is_trained_on(team: Team, frozen: FreezeFn, tiny_model: str) -> None:
    frozen(team.project, team.lead)
    failed = DatasetVersion.objects.create(
        project=team.project, number=99, eval_fraction=0.1, status=VersionStatus.FAILED
    )
    with pytest.raises(InvalidInput, match="only a frozen version"):
        run_create(version=failed, user=None, base_model=tiny_model)
    assert not TrainingRun.objects.exists()


def test_early_stopping_keeps_the_best_adapter(team: Team, frozen: FreezeFn, tiny_model: str) -> None:
    # A learning rate this high overshoots: the eval loss rises after its first improvement.
    version = frozen(team.project, team.lead)
    run = launch(version, tiny_model, epochs=10, learning_rate=0.5, eval_steps=1, early_stopping_patience=2)

    assert run.stopped_early
    assert run.step < run.total_steps
    evals = [m.eval_loss for m in run.metrics.order_by("step") if m.eval_loss is not None]
    assert len(evals) >= 3
    assert min(evals[-2:]) >= min(evals)  # the last `patience` evaluations did not improve
    if run.status == JobStatus.SUCCEEDED:
        assert run.best_eval_loss == pytest.approx(min(evals[1:]))
        assert run.best_step is not None and run.best_step < run.step
    else:  # it never beat the untrained model: refused, with the reason
        assert "never went below its value before training" in run.error


def test_a_run_that_never_improves_is_refused(team: Team, frozen: FreezeFn, tiny_model: str) -> None:
    version = frozen(team.project, team.lead)
    run = launch(version, tiny_model, learning_rate=1e-8, epochs=1, eval_steps=1, early_stopping_patience=1)
    assert run.status == JobStatus.FAILED
    assert "never went below its value before training" in run.error
    assert not run.adapter_sha256


def test_cancel_a_queued_run(team: Team, frozen: FreezeFn, tiny_model: str) -> None:
    run = run_create(version=frozen(team.project, team.lead), user=None, base_model=tiny_model)
    run_cancel(run=run, user=None)
    run.refresh_from_db()
    assert run.status == JobStatus.CANCELLED
    run_execute(run.pk)  # a delivery after the cancel trains nothing
    run.refresh_from_db()
    assert run.status == JobStatus.CANCELLED and run.step == 0


def test_cancel_stops_a_running_run_at_the_next_step(
    team: Team, frozen: FreezeFn, tiny_model: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = run_create(
        version=frozen(team.project, team.lead), user=None, base_model=tiny_model, hyperparameters=FAST
    )
    monkeypatch.setattr(reporting, "CANCEL_CHECK_EVERY_S", 0.0)
    step_done = services.DatabaseReporter.step_done

    def cancel_at_step_3(self: services.DatabaseReporter, step: int) -> None:
        step_done(self, step)
        if step == 3:
            run_cancel(run=TrainingRun.objects.get(pk=run.pk), user=None)

    monkeypatch.setattr(services.DatabaseReporter, "step_done", cancel_at_step_3)
    run_execute(run.pk)
    run.refresh_from_db()
    assert run.status == JobStatus.CANCELLED
    assert run.step == 3
    assert artifacts.checkpoint_latest(run.pk) is None
    # and the eval loss before training stays on the run, as the metrics hold it
    before = run.metrics.get(step=0, eval_loss__isnull=False).eval_loss
    assert run.initial_eval_loss == before


def test_cancel_of_a_finished_run_is_a_conflict(team: Team, frozen: FreezeFn, tiny_model: str) -> None:
    from curation.errors import Conflict

    run = launch(frozen(team.project, team.lead), tiny_model)
    with pytest.raises(Conflict, match="already succeeded"):
        run_cancel(run=run, user=None)


class WorkerKilled(BaseException):
    """Stands for SIGKILL: nothing in the run catches it, so the run stays `running`."""


def test_a_redelivered_run_resumes_from_its_checkpoint_to_the_same_adapter(
    team: Team, frozen: FreezeFn, tiny_model: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    version = frozen(team.project, team.lead)
    straight = launch(version, tiny_model, checkpoint_steps=5)

    publish = artifacts.checkpoint_publish

    def publish_then_die(run_id: int, local: Path, step: int) -> None:
        publish(run_id, local, step)
        if step == 10:
            raise WorkerKilled

    monkeypatch.setattr(artifacts, "checkpoint_publish", publish_then_die)
    run = run_create(
        version=version, user=None, base_model=tiny_model, hyperparameters={**FAST, "checkpoint_steps": 5}
    )
    with pytest.raises(WorkerKilled):
        run_execute(run.pk)
    run.refresh_from_db()
    assert run.status == JobStatus.RUNNING and run.step == 10
    assert artifacts.checkpoint_latest(run.pk) == (10, "checkpoint-10")

    monkeypatch.setattr(artifacts, "checkpoint_publish", publish)
    run_execute(run.pk)  # the broker hands the task over again
    run.refresh_from_db()
    assert run.status == JobStatus.SUCCEEDED, run.error
    assert run.resumed_from_step == 10 and run.attempts == 2
    steps = [m.step for m in run.metrics.all() if m.eval_loss is not None]
    assert steps == sorted(set(steps))  # nothing logged twice
    # Same batches, optimizer, schedule and random state: the very adapter of the straight run.
    assert run.adapter_sha256 == straight.adapter_sha256
    assert run.best_eval_loss == straight.best_eval_loss
    # The checkpoints were for resuming: the run's folder keeps its adapter, no emptied folder
    folders, _ = default_storage.listdir(artifacts.run_prefix(run.pk))
    assert not [name for name in folders if name.startswith("checkpoint-") or name == "best"], folders


def test_the_reaper_fails_runs_whose_worker_went_silent(
    team: Team, frozen: FreezeFn, tiny_model: str
) -> None:
    version = frozen(team.project, team.lead)
    silent = run_create(version=version, user=None, base_model=tiny_model)
    alive = run_create(version=version, user=None, base_model=tiny_model)
    long_ago = timezone.now() - timedelta(hours=1)
    TrainingRun.objects.filter(pk=silent.pk).update(
        status=JobStatus.RUNNING, heartbeat_at=long_ago, host="gpu-7:4242", step=5, total_steps=18
    )
    TrainingRun.objects.filter(pk=alive.pk).update(status=JobStatus.RUNNING, heartbeat_at=timezone.now())

    assert runs_reap() == 1
    silent.refresh_from_db()
    alive.refresh_from_db()
    assert silent.status == JobStatus.FAILED
    assert "No heartbeat from its worker (gpu-7:4242)" in silent.error and "step 5 of 18" in silent.error
    assert alive.status == JobStatus.RUNNING
    run_execute(silent.pk)  # a late redelivery leaves the failed run alone
    silent.refresh_from_db()
    assert silent.status == JobStatus.FAILED


def test_a_delivery_while_a_live_worker_holds_the_run_is_dropped(
    team: Team, frozen: FreezeFn, tiny_model: str
) -> None:
    run = run_create(version=frozen(team.project, team.lead), user=None, base_model=tiny_model)
    TrainingRun.objects.filter(pk=run.pk).update(
        status=JobStatus.RUNNING, heartbeat_at=timezone.now(), host="another-gpu-host:17"
    )
    run_execute(run.pk)
    run.refresh_from_db()
    assert run.status == JobStatus.RUNNING and run.attempts == 0 and run.host == "another-gpu-host:17"


# -- preflight -----------------------------------------------------------------------------------


def test_preflight_fails_when_too_many_examples_are_too_long(
    team: Team, frozen: FreezeFn, tiny_model: str
) -> None:
    run = launch(frozen(team.project, team.lead), tiny_model, max_seq_length=12)
    assert run.status == JobStatus.FAILED
    assert "train examples are longer than max_seq_length=12 tokens" in run.error
    assert run.preflight == {} and run.step == 0


def test_a_target_module_the_model_lacks_fails_the_run_naming_it(
    team: Team, frozen: FreezeFn, tiny_model: str, caplog: pytest.LogCaptureFixture
) -> None:
    version = frozen(team.project, team.lead)
    run = run_create(
        version=version,
        user=None,
        base_model=tiny_model,
        hyperparameters=FAST,
        lora={"target_modules": ["nonexistent_proj"]},
    )
    run_execute(run.pk)
    run.refresh_from_db()
    assert run.status == JobStatus.FAILED
    assert run.error.startswith("lora.target_modules: Target modules {'nonexistent_proj'} not found")
    # A setting the model cannot take, not a fault of the worker: no traceback logged
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]


def test_preflight_fails_without_an_end_of_sequence_token(
    team: Team, frozen: FreezeFn, tiny_model: str, tmp_path: Path
) -> None:
    import json
    import shutil

    model = tmp_path / "no-eos"
    shutil.copytree(tiny_model, model)
    config_path = model / "tokenizer_config.json"
    config = json.loads(config_path.read_text())
    config["eos_token"] = None
    config_path.write_text(json.dumps(config))
    special = model / "special_tokens_map.json"
    if special.exists():
        tokens = json.loads(special.read_text())
        tokens.pop("eos_token", None)
        special.write_text(json.dumps(tokens))

    run = launch(frozen(team.project, team.lead), str(model))
    assert run.status == JobStatus.FAILED
    assert "no end-of-sequence token" in run.error


def test_preflight_fails_for_a_missing_base_model(team: Team, frozen: FreezeFn, tmp_path: Path) -> None:
    run = launch(frozen(team.project, team.lead), str(tmp_path / "nothing-here"))
    assert run.status == JobStatus.FAILED
    assert "No model at" in run.error and "nothing is downloaded" in run.error


def test_a_run_the_broker_cannot_take_fails_at_launch_naming_it(
    team: Team,
    frozen: FreezeFn,
    tiny_model: str,
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: Any,
) -> None:
    # Given a broker that refuses connections
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise BrokerError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr("training.tasks.train.delay", refuse)
    version = frozen(team.project, team.lead)

    # When a run is launched
    with django_capture_on_commit_callbacks(execute=True):
        run = run_create(version=version, user=team.lead, base_model=tiny_model, hyperparameters=FAST)

    # Then it fails at once rather than wait as queued for a message that was never sent
    run.refresh_from_db()
    assert (run.status, run.error) == (JobStatus.FAILED, NOT_QUEUED)


def test_a_run_that_waited_too_long_for_a_gpu_worker_is_sent_again(
    team: Team, frozen: FreezeFn, tiny_model: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    version = frozen(team.project, team.lead)
    run = run_create(
        version=version, user=team.lead, base_model=tiny_model, hyperparameters=FAST, queue=False
    )
    TrainingRun.objects.filter(pk=run.pk).update(created_at=timezone.now() - timedelta(seconds=605))
    sent: list[int] = []
    monkeypatch.setattr("training.tasks.train.delay", sent.append)

    assert services.runs_resend() == 1
    assert sent == [run.pk]


def test_an_attempt_that_starts_over_shows_its_own_step_not_the_last_attempts(
    team: Team, frozen: FreezeFn, tiny_model: str
) -> None:
    # Given a run whose first attempt reached step 12 of 18 and died before any checkpoint
    run = run_create(
        version=frozen(team.project, team.lead), user=None, base_model=tiny_model, hyperparameters=FAST
    )
    TrainingRun.objects.filter(pk=run.pk).update(
        status=JobStatus.RUNNING, step=12, total_steps=18, progress=0.67
    )

    # When the next attempt starts over
    reporting.DatabaseReporter(run).started(18, None)

    # Then the run shows step 0, not the dead attempt's 12
    run.refresh_from_db()
    assert (run.step, run.progress, run.total_steps) == (0, 0.0, 18)
    reporting.DatabaseReporter(run).started(18, 10)  # a resume from the checkpoint at step 10
    run.refresh_from_db()
    assert (run.step, run.progress) == (10, pytest.approx(10 / 18))
