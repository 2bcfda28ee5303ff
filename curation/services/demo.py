"""The first user and the sample project that a fresh local install starts with."""

from __future__ import annotations

import csv
import os
import secrets
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.db import transaction

from curation.models import ExampleStatus, ImportJob, JobStatus, Project, ReviewDecision, TaskType
from curation.services.examples import example_review
from curation.services.imports import import_job_create
from curation.services.projects import project_create

SAMPLE_DIR = Path(__file__).resolve().parent.parent / "sample_data"
DEMO_PROJECT_NAME = "Banking77: eight intents (demo)"
# 480 banking77 training rows, 60 for each of eight intents: few enough labels for the tiny local
# model to learn on a CPU in minutes (sample_data/README.md).
SAMPLE_FILE = "banking77_demo.csv"
APPROVED_SHARE = 0.8


@dataclass(frozen=True)
class DemoLogin:
    username: str
    password: str
    created: bool


def demo_admin_ensure(*, username: str = "admin", password: str | None = None) -> DemoLogin:
    """Create the first (staff) user once; its password is kept under FINCH_HOME to print again."""
    password_file = Path(settings.FINCH_HOME) / "admin-password"
    user_model = get_user_model()
    if user_model.objects.filter(username=username).exists():
        known = password_file.read_text().strip() if password_file.exists() else "(as set before)"
        return DemoLogin(username, password or known, created=False)
    password = password or secrets.token_urlsafe(12)
    user_model.objects.create_superuser(username=username, email="", password=password)
    password_file.write_text(password)
    password_file.chmod(0o600)
    return DemoLogin(username, password, created=True)


def demo_project_ensure(*, user: User) -> tuple[Project, bool]:
    """The banking77 sample project: the sample file imported through the import pipeline (as
    submitted), then APPROVED_SHARE of it approved by `user`. Each step is done once, so a run
    that stopped half-way is completed by the next; returns (project, created). The import needs
    a worker, or Celery eager (the demo command sets it)."""
    project = Project.objects.filter(name=DEMO_PROJECT_NAME).first()
    created = project is None
    if project is None:
        project = project_create(
            user=user,
            name=DEMO_PROJECT_NAME,
            task_type=TaskType.CLASSIFICATION,
            target_behavior="Classify an online-banking customer message into one of eight intents.",
            system_prompt="You route customer messages. Answer with the intent label only.",
            labels=sample_labels(),
        )
    if not project.import_jobs.filter(filename=SAMPLE_FILE, status=JobStatus.SUCCEEDED).exists():
        with (SAMPLE_DIR / SAMPLE_FILE).open("rb") as sample:
            demo_import(project=project, user=user, upload=sample, filename=SAMPLE_FILE)
    if not project.examples.filter(status=ExampleStatus.APPROVED).exists():
        imported = list(project.examples.filter(source__startswith="import:").order_by("id"))
        for example in imported[: int(len(imported) * APPROVED_SHARE)]:
            example_review(example=example, user=user, decision=ReviewDecision.APPROVE)
    return project, created


def demo_import(*, project: Project, user: User, upload: IO[bytes], filename: str) -> ImportJob:
    """Import a text,category CSV as submitted examples; the job must succeed."""
    with transaction.atomic():
        job = import_job_create(
            project=project,
            user=user,
            upload=upload,
            filename=filename,
            input_field="text",
            output_field="category",
            status=ExampleStatus.SUBMITTED,
        )
    job.refresh_from_db()
    if job.status != JobStatus.SUCCEEDED:
        raise RuntimeError(f"Importing {filename} into the demo project ended {job.status}: {job.error}")
    return job


def sample_rows() -> list[tuple[str, str]]:
    """The demo sample's (text, intent) rows."""
    with (SAMPLE_DIR / SAMPLE_FILE).open(newline="", encoding="utf-8") as handle:
        return [(row["text"], row["category"]) for row in csv.DictReader(handle)]


def sample_labels() -> list[str]:
    return sorted({label for _, label in sample_rows()})


def run_jobs_here() -> None:
    """Run the jobs the demo starts in this process, one after the other, as a worker would (the
    demo commands run before any worker is up)."""
    from config.celery_app import app

    app.conf.task_always_eager = True
    app.conf.task_eager_propagates = True


def run_jobs_on_workers() -> None:
    """Queue the jobs started from now on for the workers again (after `run_jobs_here`)."""
    from config.celery_app import app

    app.conf.task_always_eager = False


def token_command(username: str) -> str:
    """The command that prints the user's API token, for this FINCH_HOME (another home is
    another database: without it the command would look in the default one)."""
    home = os.environ.get("FINCH_HOME")
    prefix = f"FINCH_HOME={shlex.quote(home)} " if home else ""
    return f"{prefix}.venv/bin/python manage.py drf_create_token {username}"
