"""The README's run command builds the demo with `manage.py demo`: each step of the loop, checked
on a scratch database, then a second run that reuses everything."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command

from curation.models import (
    AuditEvent,
    ContradictionJob,
    DatasetVersion,
    DedupJob,
    Example,
    ExampleStatus,
    Flag,
    FlagKind,
    ImportJob,
    JobStatus,
    Project,
    VersionStatus,
)
from curation.services.demo import DEMO_PROJECT_NAME, sample_labels, sample_rows
from evaluation.demo import noise_rows
from evaluation.models import Comparison, EvalRun
from training.models import TrainingRun

pytestmark = [
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("media_in_tmp"),
]


def demo(tiny_model: str, tmp_path: Path, settings: Any) -> str:
    settings.FINCH_HOME = tmp_path  # where the admin password is kept
    out = io.StringIO()
    call_command("demo", "--base-model", tiny_model, "--epochs", "2", stdout=out)
    return out.getvalue()


def counts() -> dict[str, int]:
    models = [
        ImportJob,
        DedupJob,
        ContradictionJob,
        DatasetVersion,
        TrainingRun,
        EvalRun,
        Comparison,
        Example,
    ]
    return {model.__name__: model._default_manager.count() for model in models}


def test_the_demo_builds_every_step_of_the_loop_and_a_second_run_reuses_it(
    tiny_model: str, tmp_path: Path, settings: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    output = demo(tiny_model, tmp_path, settings)

    # It said one line a step with the time since it started, and how far training was while it
    # trained; its logs went to a file, not the console (no INFO lines, no weight-loading bars)
    lines = output.splitlines()
    steps = [line for line in lines if line.startswith("demo [")]
    assert len(steps) >= 9 and all(re.match(r"demo \[\d+:\d\d\] ", line) for line in steps), steps
    assert any(re.match(r"demo \[\d+:\d\d\]   training: step \d+ of \d+ \(\d+%\)", line) for line in lines)
    assert re.search(r"^demo: done in \d+:\d\d$", output, re.MULTILINE)
    console = output + "".join(capfd.readouterr())
    assert " INFO " not in console and "Loading weights" not in console
    assert "INFO training.services: training run" in (tmp_path / "log" / "demo.log").read_text()

    # The sample and the planted noise came in through two successful imports
    project = Project.objects.get(name=DEMO_PROJECT_NAME)
    assert project.labels == sample_labels()
    imports = project.import_jobs.order_by("id")
    assert [job.status for job in imports] == [JobStatus.SUCCEEDED] * 2
    assert imports[0].created == len(sample_rows()) and imports[1].created == len(noise_rows())
    approved = project.examples.filter(status=ExampleStatus.APPROVED).count()
    assert approved == int(len(sample_rows()) * 0.8)

    # The quality jobs found the planted copies, and their findings wait for review
    dedup = DedupJob.objects.get(project=project)
    assert dedup.status == JobStatus.SUCCEEDED and dedup.duplicates_marked >= len(sample_rows()[::29])
    contradictions = ContradictionJob.objects.get(project=project)
    assert contradictions.status == JobStatus.SUCCEEDED and contradictions.flags_raised >= len(
        sample_rows()[::53]
    )
    assert Flag.objects.filter(project=project, kind=FlagKind.CONTRADICTION, status="open").count() == (
        contradictions.flags_raised
    )

    # A version froze without the contested examples, and the loop ran on it
    version = DatasetVersion.objects.get(project=project)
    assert version.status == VersionStatus.FROZEN
    assert version.counts["train"] + version.counts["eval"] < approved  # contested ones left out
    run = TrainingRun.objects.get(version=version)
    assert run.status == JobStatus.SUCCEEDED and run.adapter_sha256 and run.lora["r"] == 64
    baseline, tuned = EvalRun.objects.filter(version=version).order_by("id")
    assert (baseline.kind, tuned.kind) == ("baseline", "tuned")
    assert baseline.status == tuned.status == JobStatus.SUCCEEDED
    assert baseline.n == tuned.n == version.counts["eval"]
    comparison = Comparison.objects.get(baseline=baseline, candidate=tuned)
    assert comparison.n == version.counts["eval"]

    # It said where to go and how to log in, and the audit log tells the story
    assert "log in as: admin" in output and f"/comparisons/{comparison.pk}/" in output
    password = (tmp_path / "admin-password").read_text().strip()
    assert f"password:  {password}" in output
    actions = set(AuditEvent.objects.filter(project=project).values_list("action", flat=True))
    assert {
        "import.start",
        "dedup_job.start",
        "version.freeze",
        "training_run.launch",
        "comparison.create",
    } <= actions

    # A second run reuses every step
    before = counts()
    again = demo(tiny_model, tmp_path, settings)
    assert counts() == before
    assert f"password:  {password}" in again and "imported before" in again


def test_seed_demo_makes_the_login_and_the_sample_project_without_a_worker(
    tmp_path: Path, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given no worker and tasks sent to a broker (the benchmarks' harness runs seed_demo so)
    from config.celery_app import app

    eager = app.conf.task_always_eager
    app.conf.task_always_eager = False
    settings.FINCH_HOME = tmp_path
    monkeypatch.setenv("FINCH_HOME", "/srv/finch home")
    printed = io.StringIO()
    try:
        call_command("seed_demo", "--password", "a-bench-password", stdout=printed)
    finally:
        app.conf.task_always_eager = eager
    # The token command it prints reaches this home's database, not the default one
    assert (
        "API token: FINCH_HOME='/srv/finch home' .venv/bin/python manage.py drf_create_token"
        in printed.getvalue()
    )
    # Then the sample came in all the same, 80% approved
    project = Project.objects.get(name=DEMO_PROJECT_NAME)
    assert project.examples.count() == len(sample_rows())
    assert project.examples.filter(status=ExampleStatus.APPROVED).count() == int(len(sample_rows()) * 0.8)


def test_the_real_model_demo_queues_for_the_worker_or_runs_here_on_the_first_demos_version(
    tiny_model: str, tmp_path: Path, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the bundled model stood in for by a copy of the tiny one (SmolLM2's own loop is
    # tests/evaluation/test_real_model.py; here the demo's wiring), registered as the demo would
    import shutil

    from config.celery_app import app
    from evaluation import demo as demo_module
    from training import registry

    stand_in = Path(shutil.copytree(tiny_model, tmp_path / "real-stand-in"))

    def register_bundled(**_: Any) -> tuple[Any, bool]:
        found = registry.lookup("real-stand-in")
        return (found, False) if found else (registry.register_folder(folder=stand_in), True)

    monkeypatch.setattr(demo_module, "register_bundled", register_bundled)
    queued: list[int] = []
    monkeypatch.setattr("evaluation.tasks.real_model_demo.delay", queued.append)
    settings.FINCH_HOME = tmp_path
    eager = app.conf.task_always_eager
    try:
        # Without --wait: the first demo built here, the model registered, the rest queued
        out = io.StringIO()
        call_command("demo", "--base-model", tiny_model, "--epochs", "1", "--real-model", stdout=out)
        assert len(queued) == 1 and "real-model demo is queued for the worker" in out.getvalue()
        assert "base model real-stand-in (registered now)" in out.getvalue()
        assert TrainingRun.objects.count() == 1  # the first demo's only
        # With --wait (the worker's task runs the same loop): a second run on the same version
        out = io.StringIO()
        call_command(
            "demo", "--base-model", tiny_model, "--epochs", "1", "--real-model", "--wait", stdout=out
        )
    finally:
        app.conf.task_always_eager = eager
    version = DatasetVersion.objects.get()
    real = TrainingRun.objects.get(registered_model__name="real-stand-in")
    assert real.version == version and real.name == "demo LoRA of real-stand-in (real model)"
    assert real.hyperparameters["epochs"] == 1 and real.status == JobStatus.SUCCEEDED
    baseline = EvalRun.objects.get(registered_model__name="real-stand-in", training_run=None)
    assert baseline.few_shot == 8 and baseline.name == "demo baseline: real-stand-in, 8-shot"
    comparison = Comparison.objects.get(baseline=baseline, candidate__training_run=real)
    assert f"the real-model comparison: http://127.0.0.1:8000/comparisons/{comparison.pk}/" in out.getvalue()
    assert "baseline evaluation" in out.getvalue() and ", 8-shot: accuracy" in out.getvalue()

    # The worker's task is the same loop: run again, it finds every step done
    before = counts()
    from evaluation.tasks import real_model_demo

    assert real.created_by_id is not None
    real_model_demo(real.created_by_id)
    assert counts() == before


def test_the_real_model_demo_needs_the_first_demo() -> None:
    from evaluation.demo import real_model_demo_loop
    from tests.factories import UserFactory

    with pytest.raises(RuntimeError, match=r"run `manage\.py demo` first"):
        real_model_demo_loop(user=UserFactory.create())
