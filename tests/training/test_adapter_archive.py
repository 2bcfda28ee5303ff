"""The adapter download: the stored adapter's files, with a README of Finch's own instead of the
model card template peft writes beside them."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable

import pytest
from django.contrib.auth.models import User
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from rest_framework.test import APIClient

from curation.models import JobStatus
from tests.conftest import Team
from tests.training.support import FreezeFn
from training.models import TrainingRun

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_in_tmp")]

PEFT_CARD = "---\nbase_model: /models/base\nlibrary_name: peft\n---\n\n# Model Card for Model ID\n\n[More Information Needed]\n"


def stored_adapter(team: Team, frozen: FreezeFn, prefix: str) -> TrainingRun:
    """A succeeded run whose stored adapter folder holds what peft's `save_pretrained` writes."""
    version = frozen(team.project, team.lead)
    TrainingRun.objects.create(version=version, base_model="/models/other", version_sha256=version.sha256)
    run = TrainingRun.objects.create(
        version=version,
        base_model="/models/base",
        version_sha256=version.sha256,
        name="intent v1",
        status=JobStatus.SUCCEEDED,
        lora={"r": 8, "alpha": 16, "dropout": 0.05, "target_modules": "all-linear"},
        best_eval_loss=0.4321,
        best_step=12,
        adapter_path=prefix,
        adapter_sha256="a" * 64,
    )
    for name, content in {
        "README.md": PEFT_CARD,
        "adapter_config.json": '{"r": 8}',
        "adapter_model.safetensors": "weights",
    }.items():
        default_storage.save(f"{prefix}/{name}", ContentFile(content.encode()))
    return run


def test_the_zip_carries_a_true_readme_instead_of_peft_boilerplate(
    team: Team, frozen: FreezeFn, client_for: Callable[[User | None], APIClient]
) -> None:
    # Given a run (its project's second) whose adapter folder holds peft's model card template
    run = stored_adapter(team, frozen, "training/run-x/adapter")

    # When its adapter is downloaded
    response = client_for(team.annotator).get(f"/api/training-runs/{run.pk}/adapter/")

    # Then the zip holds the adapter files and one README, saying what the adapter is and how to load it
    assert response.status_code == 200
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    assert sorted(archive.namelist()) == ["README.md", "adapter_config.json", "adapter_model.safetensors"]
    assert archive.read("adapter_model.safetensors") == b"weights"
    readme = archive.read("README.md").decode()
    assert "[More Information Needed]" not in readme and "Model Card for Model ID" not in readme
    assert f"# LoRA adapter of training run 2 (intent v1), project {team.project.name}" in readme
    assert "- Base model: `/models/base`" in readme
    assert f"- Training run: 2 of project {team.project.name} (id {run.pk})" in readme
    assert f"- Dataset version: v{run.version.number} (sha256 {run.version_sha256})" in readme
    assert '- LoRA: r=8, alpha=16, dropout=0.05, target modules "all-linear"' in readme
    assert "- Best eval loss: 0.4321 at step 12" in readme
    assert 'PeftModel.from_pretrained(base, "path/to/this/folder")' in readme
    # And how to ask it: the system prompt it was trained with, through the chat template
    assert "## Prompting it" in readme and "apply_chat_template(messages" in readme
    assert "{'role': 'system', 'content': 'Answer with the intent label only.'}" in readme
    assert "It answers with one of the labels: `card_arrival`" in readme
