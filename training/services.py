"""Training runs: launch, cancel, execute (on a GPU host's worker, or any worker on CPU), reap.

One place for each, shared by the API, the web UI, the Celery tasks and the commands.
"""

from __future__ import annotations

import logging
import os
import socket
import tempfile
import traceback
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from config.observability import bind_job
from curation.errors import InvalidInput
from curation.freeze.formats import chat_messages
from curation.models import DatasetVersion, JobStatus
from curation.services import version_exports
from curation.services.audit import audit
from curation.services.dispatch import QUEUED, Resendable, job_send_on_commit, lost_messages_resend
from curation.services.jobs import job_cancel_request, job_update
from training import artifacts, capacity
from training.hyperparameters import STEP_SETTINGS, hyperparameters_resolve, lora_resolve, step_defaults
from training.models import TrainingRun
from training.preflight import PreflightError, Prepared, prepare
from training.registry import resolve_for_launch, sha256_for_load
from training.reporting import DatabaseReporter

if TYPE_CHECKING:
    from training.loop import Outcome

log = logging.getLogger(__name__)

NO_OP_TOLERANCE = 1e-6
NOOP_CHECK_EXAMPLES = 4


class TrainingFailed(Exception):
    """The run trained but produced nothing worth keeping; the message says why."""


# -- launch and cancel ---------------------------------------------------------------------------


@transaction.atomic
def run_create(
    *,
    version: DatasetVersion,
    user: User | None,
    base_model: str,
    lora: dict[str, Any] | None = None,
    hyperparameters: dict[str, Any] | None = None,
    name: str = "",
    queue: bool = True,
) -> TrainingRun:
    """Record a run with every setting resolved and queue it for a GPU worker (or queue nothing,
    with `queue=False`, for a caller that runs it: `run_execute`)."""
    if not version.is_frozen:
        raise InvalidInput(
            f"Version {version.number} (id {version.pk}) is {version.status}: only a frozen version can be "
            "trained on.",
            field="version",
        )
    train_count = int(version.counts.get("train", 0))
    if not train_count:
        raise InvalidInput(f"Version {version.number} has no train examples.", field="version")
    base_model, registered = resolve_for_launch(_checked_base_model(base_model))
    run = TrainingRun.objects.create(
        version=version,
        base_model=base_model,
        registered_model=registered,
        name=name.strip(),
        lora=lora_resolve(lora),
        hyperparameters=hyperparameters_resolve(hyperparameters, train_count),
        version_sha256=version.sha256,
        created_by=user,
    )
    summary = f"Launched training run {run.pk} on {version.name} from {base_model}"
    audit(project=version.project_id, actor=user, action="training_run.launch", target=run, summary=summary)
    if queue:
        from training.tasks import train  # the task module imports this one

        job_send_on_commit(run, lambda: train.delay(run.pk))
    return run


def _checked_base_model(base_model: str) -> str:
    """The name as given (a registered model's, a path or a hub id), refused only when it cannot
    name a model anywhere: where it exists is for the GPU host to say (its preflight fails the run
    with a clear message)."""
    value = (base_model or "").strip()
    if not value:
        raise InvalidInput(
            "base_model: give a registered model's name, the path of a model folder or a model id.",
            field="base_model",
        )
    if len(value) > 500 or "\x00" in value:
        raise InvalidInput("base_model: not a path or model id.", field="base_model")
    return value


def run_cancel(*, run: TrainingRun, user: User | None) -> TrainingRun:
    """A queued run is cancelled at once; a running one stops before its next step."""
    with transaction.atomic():
        run, before = job_cancel_request(TrainingRun, run.pk, f"Training run {run.pk}")
        summary = f"Cancelled training run {run.pk} (it was {before})"
        project_id = DatasetVersion.objects.values_list("project_id", flat=True).get(pk=run.version_id)
        audit(project=project_id, actor=user, action="training_run.cancel", target=run, summary=summary)
    return run


# -- execution -----------------------------------------------------------------------------------


def run_here(**launch: Any) -> TrainingRun:
    """Record a training run (`run_create`'s arguments) and train it in this process, not on a
    worker (the demo, benchmarks); the run as it ended: its status says whether it succeeded."""
    run = run_create(queue=False, **launch)
    run_execute(run.pk)
    run.refresh_from_db()
    return run


def run_execute(run_id: int) -> None:
    """The task's body: train, or resume after a lost worker, and record the outcome."""
    run = TrainingRun.objects.select_related("version__project", "registered_model").get(pk=run_id)
    with bind_job("TrainingRun", run.pk, run.version.project_id):
        _execute(run)


def _execute(run: TrainingRun) -> None:
    if not _claim(run):
        return
    run.refresh_from_db()  # the claim wrote host, attempts and status through a locked copy
    log.info("training run %s starts on %s (attempt %s)", run.pk, run.host, run.attempts)
    try:
        with tempfile.TemporaryDirectory(prefix=f"finch-run-{run.pk}-") as work:
            _train(run, Path(work))
    except _Cancelled:
        _finish(run, JobStatus.CANCELLED)
    except (PreflightError, TrainingFailed) as exc:
        _finish(run, JobStatus.FAILED, error=str(exc))
    except Exception as exc:
        log.exception("training run %s failed", run.pk)
        _finish(run, JobStatus.FAILED, error=str(exc) or type(exc).__name__, trace=traceback.format_exc())
    else:
        _finish(run, JobStatus.SUCCEEDED)


def holder() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _claim(run: TrainingRun) -> bool:
    """Mark the run as held by this process; False when it is finished, cancelled, or still held
    by a live worker (a broker may hand a long task to a second worker)."""
    with transaction.atomic():
        run = TrainingRun.objects.select_for_update().get(pk=run.pk)
        if run.is_finished:
            log.info("training run %s already %s; not run again", run.pk, run.status)
            return False
        if run.cancel_requested:
            job_update(run, status=JobStatus.CANCELLED, finished_at=timezone.now())
            return False
        if run.status == JobStatus.RUNNING and _held_elsewhere(run):
            log.warning("training run %s is held by %s; this delivery is dropped", run.pk, run.host)
            return False
        job_update(
            run,
            status=JobStatus.RUNNING,
            started_at=run.started_at or timezone.now(),
            heartbeat_at=timezone.now(),
            host=holder(),
            attempts=run.attempts + 1,
        )
    return True


def _held_elsewhere(run: TrainingRun) -> bool:
    host, _, pid = run.host.rpartition(":")
    if host == socket.gethostname() and pid.isdigit():
        return _alive(int(pid)) and int(pid) != os.getpid()
    return run.heartbeat_at is not None and timezone.now() - run.heartbeat_at < heartbeat_timeout()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _train(run: TrainingRun, work: Path) -> None:
    from training import modeling
    from training.loop import Cancelled

    job_update(
        run,
        environment=modeling.environment(),
        base_model_config_sha256=modeling.config_sha256(run.base_model),
    )
    # Checked before anything loads; a resumed run must find the very weights it started on.
    loaded = sha256_for_load(
        base_model=run.base_model,
        registered=run.registered_model,
        expected=run.base_model_sha256,
        expected_by=f"Training run {run.pk}'s first attempt",
    )
    job_update(run, base_model_sha256=loaded)
    scale = _scale(run)
    job_update(run, environment={**run.environment, "training": scale.as_dict()})
    tokenizer = modeling.tokenizer_load(run.base_model)
    prepared = _prepared(run, tokenizer)
    _steps_complete(run, prepared)
    prepared.report["memory"] = _memory_report(run, prepared, scale)
    job_update(run, preflight=prepared.report)
    capacity.memory_check(prepared.report["memory"], run.hyperparameters)
    try:
        if scale.processes > 1:
            from training import launcher

            outcome = launcher.train_distributed(
                run, work, prepared, scale, pad_id=tokenizer.pad_token_id, resume=_resume_folder(run, work)
            )
        else:
            outcome = _train_here(run, work, prepared, pad_id=tokenizer.pad_token_id)
    except Cancelled:
        raise _Cancelled from None
    _conclude(run, work, prepared, outcome)


def _scale(run: TrainingRun) -> capacity.Scale:
    """The processes and device this worker gives the run; PreflightError when it cannot run it."""
    from training import modeling

    return capacity.scale_for(
        run.hyperparameters,
        gpu_count=settings.FINCH_GPU_COUNT,
        cuda_devices=modeling.cuda_devices(),
        cpu_data_parallel=settings.FINCH_TRAINING_CPU_DATA_PARALLEL,
        bitsandbytes=modeling.bitsandbytes_installed(),
        bf16=modeling.compute_dtype(modeling.device()) is not None,
    )


def _steps_complete(run: TrainingRun, prepared: Prepared) -> None:
    """With token_budget batching the step settings left empty at launch, from the real batches."""
    from training.batching import Batching

    values = run.hyperparameters
    if not any(values.get(name) is None for name in STEP_SETTINGS):
        return
    lengths = [len(example.input_ids) for example in prepared.train]
    steps = Batching.of(values).steps(lengths, values["epochs"])
    job_update(run, hyperparameters=step_defaults(dict(values), steps[0], sum(steps)))


def _memory_report(run: TrainingRun, prepared: Prepared, scale: capacity.Scale) -> dict[str, Any]:
    from training import modeling

    on = modeling.device()
    return capacity.memory_report(
        modeling.config_load(run.base_model),
        settings=run.hyperparameters,
        lora=run.lora,
        train_report=prepared.report["train"],
        scale=scale,
        dtype_bytes=2 if modeling.compute_dtype(on) else 4,
        free_bytes=modeling.gpu_free_bytes(scale.processes),
    )


def _train_here(run: TrainingRun, work: Path, prepared: Prepared, *, pad_id: int) -> Outcome:
    """One process trains: the loop in this worker, reporting to the database as it goes."""
    from training import modeling
    from training.loop import LoraLoop, Plan

    on = modeling.device()
    model = modeling.model_for_training(run.base_model, on, run.lora, run.hyperparameters)
    loop = LoraLoop(
        model,
        prepared.train,
        prepared.eval,
        Plan.of(run.hyperparameters),
        DatabaseReporter(run),
        pad_id=pad_id,
        device=on,
        autocast_dtype=modeling.compute_dtype(on),
    )
    outcome = loop.run(work, resume_from=_resume_folder(run, work))
    if not prepared.eval:  # nothing to choose the best by: the last adapter is the result
        model.save_pretrained(str(work / "final"))
    return outcome


def _conclude(run: TrainingRun, work: Path, prepared: Prepared, outcome: Outcome) -> None:
    """Refuse an adapter that learned nothing; deliver the one that did."""
    if prepared.eval:
        if outcome.best_step == 0:
            raise TrainingFailed(
                f"The eval loss never went below its value before training ({outcome.initial_eval_loss:.4f}), "
                "so the best adapter is the untrained one. Try a higher learning rate, more epochs or more data."
            )
        adapter = work / "best"
    else:
        adapter = work / "final"
    _check_not_no_op(run, adapter, prepared)
    _deliver(run, adapter, outcome)


def _prepared(run: TrainingRun, tokenizer: Any) -> Prepared:
    version = run.version
    rendering = version_exports.rendering(version)

    def conversations(split: str) -> Any:
        return (chat_messages(item, rendering) for item in version_exports.items(version, split))

    hyperparameters = run.hyperparameters
    return prepare(
        tokenizer,
        conversations("train"),
        conversations("eval"),
        max_seq_length=hyperparameters["max_seq_length"],
        max_truncated_fraction=hyperparameters["max_truncated_fraction"],
    )


def _resume_folder(run: TrainingRun, work: Path) -> Path | None:
    """The last checkpoint (and the best adapter so far), fetched from storage."""
    latest = artifacts.checkpoint_latest(run.pk)
    if latest is None:
        return None
    step, name = latest
    prefix = artifacts.run_prefix(run.pk)
    folder = work / "resume"
    artifacts.folder_download(f"{prefix}/{name}", folder)
    artifacts.folder_download(f"{prefix}/best", work / "best")
    job_update(run, resumed_from_step=step)
    log.info("training run %s resumes from step %s", run.pk, step)
    return folder


def _check_not_no_op(run: TrainingRun, adapter: Path, prepared: Prepared) -> None:
    from training import modeling

    samples = [example.input_ids for example in (prepared.eval or prepared.train)[:NOOP_CHECK_EXAMPLES]]
    quantization = run.hyperparameters.get("quantization", "none")
    difference = modeling.adapter_changes_outputs(run.base_model, adapter, samples, quantization=quantization)
    if difference <= NO_OP_TOLERANCE:
        raise TrainingFailed(
            "The saved adapter, reloaded, does not change the base model's outputs (largest logit "
            f"difference {difference:.2e}): it learned nothing. Check the learning rate and target_modules."
        )


def _deliver(run: TrainingRun, adapter: Path, outcome: Outcome) -> None:
    prefix = f"{artifacts.run_prefix(run.pk)}/adapter"
    artifacts.folder_delete(prefix)
    artifacts.folder_upload(adapter, prefix)
    job_update(
        run,
        adapter_path=prefix,
        adapter_sha256=artifacts.file_sha256(adapter / artifacts.ADAPTER_WEIGHTS),
        stopped_early=outcome.stopped_early,
        best_step=outcome.best_step,
        best_eval_loss=outcome.best_eval_loss,
        initial_eval_loss=outcome.initial_eval_loss,
        step=outcome.steps,
    )


class _Cancelled(Exception):
    pass


def _finish(run: TrainingRun, status: str, *, error: str = "", trace: str = "") -> None:
    fields: dict[str, Any] = {
        "status": status,
        "finished_at": timezone.now(),
        "error": error,
        "traceback": trace,
    }
    if status == JobStatus.SUCCEEDED:
        fields["progress"] = 1.0
    job_update(run, **fields)
    artifacts.checkpoints_discard(run.pk)  # they only serve a resume; a finished run is not resumed


# -- the reaper ----------------------------------------------------------------------------------


def heartbeat_timeout() -> timedelta:
    return timedelta(seconds=settings.FINCH_TRAINING_HEARTBEAT_TIMEOUT_S)


def runs_resend() -> int:
    """Send again the tasks of runs that waited too long for a GPU worker (their message lost)."""
    return lost_messages_resend([Resendable(TrainingRun, QUEUED, "training.train")])


def runs_reap() -> int:
    """Fail the running runs whose worker has not been heard from for too long; how many."""
    cutoff = timezone.now() - heartbeat_timeout()
    stale = TrainingRun.objects.filter(status=JobStatus.RUNNING, heartbeat_at__lt=cutoff)
    reaped = 0
    for run in stale:
        seconds = int((timezone.now() - run.heartbeat_at).total_seconds()) if run.heartbeat_at else 0
        error = (
            f"No heartbeat from its worker ({run.host or 'unknown host'}) for {seconds} s: the worker "
            f"stopped (killed, out of memory, or its host went down) at step {run.step} of {run.total_steps}."
        )
        updated = TrainingRun.objects.filter(
            pk=run.pk, status=JobStatus.RUNNING, heartbeat_at__lt=cutoff
        ).update(status=JobStatus.FAILED, error=error, finished_at=timezone.now())
        if updated:
            artifacts.checkpoints_discard(run.pk)
            reaped += 1
    return reaped
