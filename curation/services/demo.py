"""The first user and the sample project that a fresh local install starts with."""

from __future__ import annotations

import csv
import json
import secrets
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.db import transaction

from curation.models import ExampleStatus, Project, TaskType
from curation.services.examples import example_create
from curation.services.projects import project_create

SAMPLE_DIR = Path(__file__).resolve().parent.parent / "sample_data"
DEMO_PROJECT_NAME = "Banking77 intents (sample)"
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


@transaction.atomic
def demo_project_ensure(*, user: User) -> tuple[Project, bool]:
    """Create the banking77 sample project once; returns (project, created)."""
    existing = Project.objects.filter(name=DEMO_PROJECT_NAME).first()
    if existing is not None:
        return existing, False
    labels = json.loads((SAMPLE_DIR / "banking77_categories.json").read_text())
    project = project_create(
        user=user,
        name=DEMO_PROJECT_NAME,
        task_type=TaskType.CLASSIFICATION,
        target_behavior="Classify an online-banking customer message into one of 77 intents.",
        system_prompt="You route customer messages. Answer with the intent label only.",
        labels=labels,
    )
    with (SAMPLE_DIR / "banking77_sample.csv").open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    approved_until = int(len(rows) * APPROVED_SHARE)
    for index, row in enumerate(rows):
        status = ExampleStatus.APPROVED if index < approved_until else ExampleStatus.SUBMITTED
        example_create(
            project=project,
            user=user,
            input=row["text"],
            output=row["category"],
            status=status,
            source="sample:banking77",
            metadata={"dataset": "banking77", "license": "CC BY 4.0"},
        )
    return project, True
