"""The registry over the API: registered models (read-only, any signed-in user), and the runs that
name one by its name and record the weights they loaded."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from curation.models import JobStatus
from curation.services.labeling import items_enqueue
from tests.conftest import Team
from tests.training.support import FAST, FreezeFn, base_model_row
from training import registry

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_in_tmp")]

ClientFor = Callable[[User | None], APIClient]
REFERENCE = {"hyperparameters": {"learning_rate": 0.0005, "epochs": 3}, "lora": {"r": 16, "alpha": 32}}


def test_the_list_and_a_models_detail(team: Team, client_for: ClientFor, tiny_copy: Path) -> None:
    model = registry.register_folder(folder=tiny_copy, name="tiny", license="CC BY 4.0")
    base_model_row("smollm2-135m-instruct", "/models/smollm2", REFERENCE)
    client = client_for(team.outsider)  # in no project: the registry is everyone's

    listed = client.get("/api/base-models/").json()
    detail = client.get(f"/api/base-models/{model.pk}/").json()

    assert [row["name"] for row in listed["results"]] == ["smollm2-135m-instruct", "tiny"]  # newest first
    assert listed["results"][0]["recommended"] == REFERENCE and "files" not in listed["results"][0]
    assert detail["path"] == str(tiny_copy.resolve()) and detail["weights_sha256"] == model.weights_sha256
    assert (detail["parameter_count"], detail["context_length"], detail["has_chat_template"]) == (
        37_024,
        1024,
        True,  # the tiny model carries a chat template
    )
    assert (detail["license"], detail["source_kind"], detail["source_file"]) == ("CC BY 4.0", "folder", "")
    assert {row["name"] for row in detail["files"]} >= {"config.json", "model.safetensors"}
    assert set(detail["files"][0]) == {"name", "size", "mtime_ns", "sha256"}


def test_the_list_takes_constant_queries(
    team: Team, client_for: ClientFor, django_assert_num_queries: Any
) -> None:
    for number in range(5):
        base_model_row(f"model-{number}", f"/models/{number}")
    client = client_for(team.annotator)
    with django_assert_num_queries(2):  # the user, the page (one query, however many models)
        assert len(client.get("/api/base-models/").json()["results"]) == 5


def test_the_registry_is_read_only_over_the_api(team: Team, client_for: ClientFor) -> None:
    model = base_model_row("tiny", "/models/tiny")
    client = client_for(team.staff)
    assert client.post("/api/base-models/", {"name": "x", "path": "/x"}, format="json").status_code == 405
    assert client.delete(f"/api/base-models/{model.pk}/").status_code == 405
    assert client.get("/api/base-models/2000000000/").json()["errors"][0]["code"] == "not_found"


def test_runs_launched_by_name_show_the_model_and_the_weights_they_loaded(
    team: Team,
    frozen: FreezeFn,
    client_for: ClientFor,
    tiny_copy: Path,
    django_capture_on_commit_callbacks: Any,
) -> None:
    model = registry.register_folder(folder=tiny_copy, name="tiny")
    version = frozen(team.project, team.lead)
    lead = client_for(team.lead)
    items_enqueue(project=team.project, user=None, inputs=[{"input": "Where is my card?"}])

    with django_capture_on_commit_callbacks(execute=True):
        training = lead.post(
            "/api/training-runs/",
            {"version": version.pk, "base_model": "tiny", "hyperparameters": FAST},
            format="json",
        )
    evaluation = lead.post("/api/eval-runs/", {"version": version.pk, "base_model": "tiny"}, format="json")
    suggestion = lead.post(
        f"/api/projects/{team.project.pk}/suggestion-runs/", {"base_model": "tiny"}, format="json"
    )

    trained = lead.get(f"/api/training-runs/{training.json()['id']}/").json()
    assert trained["status"] == JobStatus.SUCCEEDED, trained["error"]
    assert trained["base_model"] == model.path and trained["base_model_sha256"] == model.weights_sha256
    reference = {"id": model.pk, "name": "tiny"}
    assert trained["registered_model"] == reference
    listed = lead.get("/api/training-runs/").json()["results"][0]
    assert listed["registered_model"] == reference and listed["base_model_sha256"] == model.weights_sha256
    for launched in (evaluation, suggestion):
        assert launched.status_code in (201, 202), launched.json()
        assert launched.json()["registered_model"] == reference
        assert launched.json()["base_model"] == model.path and launched.json()["base_model_sha256"] == ""
