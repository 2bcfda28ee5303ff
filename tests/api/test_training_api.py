"""The training-run API: launch (eager here) to an adapter, the contract's fields, who may do
what, bad input named, cancel, and the adapter download."""

from __future__ import annotations

import hashlib
import io
import zipfile
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from curation.models import DatasetVersion, JobStatus
from tests.api.support import error_fields
from tests.conftest import Team
from tests.factories import ProjectFactory
from tests.training.support import FAST, FreezeFn
from training.models import TrainingRun

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_in_tmp")]

ClientFor = Callable[[User | None], APIClient]
CONTRACT = {
    "host",
    "step",
    "total_steps",
    "metrics",
    "stopped_early",
    "adapter",
    "status",
    "progress",
    "error",
}


@pytest.fixture
def version(team: Team, frozen: FreezeFn) -> DatasetVersion:
    return frozen(team.project, team.lead)


def launch(client: APIClient, version: DatasetVersion, model: str, **extra: Any) -> Any:
    body = {"version": version.pk, "base_model": model, "hyperparameters": FAST, **extra}
    return client.post("/api/training-runs/", body, format="json")


def test_launch_trains_and_reports_per_the_contract(
    team: Team,
    version: DatasetVersion,
    tiny_model: str,
    client_for: ClientFor,
    django_capture_on_commit_callbacks: Any,
) -> None:
    lead = client_for(team.lead)
    with django_capture_on_commit_callbacks(execute=True):
        response = launch(lead, version, tiny_model, lora={"r": 8})
    assert response.status_code == 202, response.json()
    assert response.json()["status"] == JobStatus.QUEUED

    run = lead.get(f"/api/training-runs/{response.json()['id']}/").json()
    assert set(run) >= CONTRACT
    assert run["status"] == JobStatus.SUCCEEDED, run["error"]
    assert run["lora"]["r"] == 8 and run["lora"]["alpha"] == 32
    assert run["version"] == version.pk and run["version_sha256"] == version.sha256
    assert run["step"] == run["total_steps"] == 18
    assert {"step", "train_loss", "eval_loss"} <= set(run["metrics"][0])
    assert run["adapter"]["sha256"] == TrainingRun.objects.get().adapter_sha256

    download = lead.get(f"/api/training-runs/{run['id']}/adapter/")
    assert download.status_code == 200
    archive = zipfile.ZipFile(io.BytesIO(download.content))
    assert {"adapter_config.json", "adapter_model.safetensors"} <= set(archive.namelist())
    assert hashlib.sha256(archive.read("adapter_model.safetensors")).hexdigest() == run["adapter"]["sha256"]
    # peft's model-card template is replaced by a README that says what the adapter is
    readme = archive.read("README.md").decode()
    assert "[More Information Needed]" not in readme and "Model Card for Model ID" not in readme
    assert f"Base model: `{tiny_model}`" in readme and "r=8, alpha=32" in readme
    assert "PeftModel.from_pretrained" in readme

    listed = lead.get(f"/api/training-runs/?project={team.project.pk}").json()["results"]
    assert [item["id"] for item in listed] == [run["id"]]
    assert listed[0]["best_eval_loss"] == pytest.approx(run["best_eval_loss"])


def test_only_leads_launch_and_cancel(
    team: Team, version: DatasetVersion, tiny_model: str, client_for: ClientFor
) -> None:
    assert launch(client_for(team.reviewer), version, tiny_model).status_code == 403
    assert launch(client_for(team.outsider), version, tiny_model).status_code == 404
    assert launch(client_for(None), version, tiny_model).status_code == 401
    assert launch(client_for(team.staff), version, tiny_model).status_code == 202
    run_id = TrainingRun.objects.get().pk
    assert client_for(team.annotator).post(f"/api/training-runs/{run_id}/cancel/").status_code == 403
    assert client_for(team.annotator).get(f"/api/training-runs/{run_id}/").status_code == 200
    assert client_for(team.outsider).get(f"/api/training-runs/{run_id}/").status_code == 404
    assert client_for(team.outsider).get("/api/training-runs/").json()["results"] == []


def test_cancel_a_queued_run_then_cancel_again_is_a_conflict(
    team: Team, version: DatasetVersion, tiny_model: str, client_for: ClientFor
) -> None:
    lead = client_for(team.lead)
    run_id = launch(lead, version, tiny_model).json()["id"]  # no commit in this test: it stays queued
    response = lead.post(f"/api/training-runs/{run_id}/cancel/")
    assert response.status_code == 200
    assert response.json()["status"] == JobStatus.CANCELLED
    again = lead.post(f"/api/training-runs/{run_id}/cancel/")
    assert again.status_code == 409
    assert "already cancelled" in again.json()["detail"]
    assert lead.get(f"/api/training-runs/{run_id}/adapter/").status_code == 409


def test_a_version_that_is_not_frozen_is_refused(team: Team, tiny_model: str, client_for: ClientFor) -> None:
    failed = DatasetVersion.objects.create(project=team.project, number=1, eval_fraction=0.1, status="failed")
    response = launch(client_for(team.lead), failed, tiny_model)
    assert response.status_code == 400
    assert error_fields(response) == ["version"]
    assert "only a frozen version can be trained on" in response.json()["detail"]
    assert not TrainingRun.objects.exists()


def test_a_version_of_another_project_is_not_found(
    team: Team, frozen: FreezeFn, tiny_model: str, client_for: ClientFor
) -> None:
    other = ProjectFactory.create()
    version = frozen(other, team.outsider)
    assert launch(client_for(team.lead), version, tiny_model).status_code == 404


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        (
            {"hyperparameters": {"epochs": 0}},
            "hyperparameters",
            "hyperparameters.epochs: must be between 1 and 100",
        ),
        ({"hyperparameters": {"learning_rte": 1e-4}}, "hyperparameters", "unknown setting(s) learning_rte"),
        ({"lora": {"r": "sixteen"}}, "lora", "lora.r: expected a whole number"),
        ({"lora": [1]}, "lora", "lora: expected an object"),
        ({"base_model": ""}, "base_model", "blank"),
        ({"gpu": "a100"}, "gpu", "Unknown field"),
        (
            {"hyperparameters": {"quantization": "int4"}},
            "hyperparameters",
            "hyperparameters.quantization: one of none, nf4",
        ),
        (
            {"hyperparameters": {"batching": "token_budget", "tokens_per_batch": 100}},
            "hyperparameters",
            "tokens_per_batch: must be at least max_seq_length (1024)",
        ),
    ],
)
def test_bad_input_is_named(
    team: Team,
    version: DatasetVersion,
    tiny_model: str,
    client_for: ClientFor,
    body: dict[str, Any],
    field: str,
    message: str,
) -> None:
    request = {"version": version.pk, "base_model": tiny_model, **body}
    response = client_for(team.lead).post("/api/training-runs/", request, format="json")
    assert response.status_code == 400, response.json()
    assert error_fields(response) == [field]
    assert message in response.json()["detail"]
    assert not TrainingRun.objects.exists()


def test_unknown_status_filter_is_named(team: Team, client_for: ClientFor) -> None:
    response = client_for(team.lead).get("/api/training-runs/?status=done")
    assert response.status_code == 400
    assert error_fields(response) == ["status"]


def test_memory_and_scale_options_are_taken_and_shown(
    team: Team, version: DatasetVersion, tiny_model: str, client_for: ClientFor
) -> None:
    options = {
        "gradient_checkpointing": True,
        "quantization": "nf4",
        "batching": "token_budget",
        "tokens_per_batch": 4096,
        "gpus": 2,
    }
    response = launch(client_for(team.lead), version, tiny_model, hyperparameters={**FAST, **options})

    assert response.status_code == 202, response.json()
    body = response.json()
    assert {name: body["hyperparameters"][name] for name in options} == options
    # What the worker used is unknown until one starts it.
    assert body["scale"] == {
        **options,
        "processes": None,
        "device": None,
        "launcher": None,
        "backend": None,
        "memory_estimate_bytes": None,
        "gpu_free_bytes": None,
    }
