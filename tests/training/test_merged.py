"""A run's adapter merged into its base model on request: safetensors, config and tokenizer with
each file's sha256, downloadable, and the same logits as base + adapter; refused clearly when
the run did not succeed or a merge is running."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

import pytest
import torch
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone
from rest_framework.test import APIClient

from curation.models import JobHeartbeat, JobStatus
from tests.conftest import Team
from tests.curation.ui_support import logged_in
from tests.training.support import FAST, FreezeFn, storage_path
from training import artifacts
from training.merged import KIND, merge_execute, record_name
from training.models import TrainingRun
from training.services import run_create, run_execute

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_in_tmp")]

SEEN = ["I lost my card", "What rate do you use for euros", "Card still not here, when?"]


def trained(team: Team, frozen: FreezeFn, tiny_model: str) -> TrainingRun:
    version = frozen(team.project, team.lead, count=30)
    run = run_create(version=version, user=team.lead, base_model=tiny_model, hyperparameters=FAST)
    run_execute(run.pk)
    run.refresh_from_db()
    assert run.status == JobStatus.SUCCEEDED, run.error
    return run


def merge(client: APIClient, run: TrainingRun, capture: Any) -> Any:
    with capture(execute=True):
        return client.post(f"/api/training-runs/{run.pk}/merge/")


def body(response: Any) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def test_the_merged_model_gives_the_logits_of_base_and_adapter(
    team: Team,
    frozen: FreezeFn,
    tiny_model: str,
    client_for: Any,
    settings: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    run = trained(team, frozen, tiny_model)
    lead = client_for(team.lead)

    started = merge(lead, run, django_capture_on_commit_callbacks)

    assert started.status_code == 202 and started.json()["status"] == "queued"
    merged = lead.get(f"/api/training-runs/{run.pk}/").json()["merged"]
    assert merged["status"] == "succeeded", merged["error"]
    assert merged["requested_by"] == team.lead.username and merged["adapter_sha256"] == run.adapter_sha256
    assert merged["dtype"] == "float32" and merged["finished_at"]
    names = {file["name"] for file in merged["files"]}
    assert {"model.safetensors", "config.json", "tokenizer.json", "chat_template.jinja"} <= names
    assert not any(name.startswith("adapter") for name in names)  # a plain model, no peft needed
    for file in merged["files"]:  # each downloads whole, with the sha256 it is listed with
        data = body(client_for(team.annotator).get(file["url"]))
        assert len(data) == file["size"] and hashlib.sha256(data).hexdigest() == file["sha256"]

    folder = storage_path(settings, merged["path"])
    tokenizer = AutoTokenizer.from_pretrained(folder)
    assert tokenizer.chat_template  # the base's tokenizer, template and all
    batch = [torch.tensor([tokenizer(text)["input_ids"]]) for text in SEEN]
    adapter = storage_path(settings, run.adapter_path)
    with torch.no_grad():
        tuned = PeftModel.from_pretrained(
            AutoModelForCausalLM.from_pretrained(tiny_model), str(adapter)
        ).eval()
        base_and_adapter = [tuned(input_ids=ids).logits for ids in batch]
        plain = AutoModelForCausalLM.from_pretrained(folder).eval()
        merged_logits = [plain(input_ids=ids).logits for ids in batch]
        untuned = [
            AutoModelForCausalLM.from_pretrained(tiny_model).eval()(input_ids=ids).logits for ids in batch
        ]
    for expected, got, before in zip(base_and_adapter, merged_logits, untuned, strict=True):
        torch.testing.assert_close(got, expected, atol=1e-4, rtol=1e-4)
        assert (got - before).abs().max() > 1e-3  # the adapter is in there

    again = merge(lead, run, django_capture_on_commit_callbacks)
    assert again.status_code == 200 and again.json()["files"] == merged["files"]


def test_a_run_that_did_not_succeed_is_refused_and_only_leads_ask(
    team: Team, frozen: FreezeFn, client_for: Any, django_capture_on_commit_callbacks: Any
) -> None:
    version = frozen(team.project, team.lead, count=12)
    run = run_create(version=version, user=team.lead, base_model="/models/base")

    refused = merge(client_for(team.lead), run, django_capture_on_commit_callbacks)
    assert refused.status_code == 409
    assert (
        "is queued: only the adapter of a run that succeeded can be merged"
        in refused.json()["errors"][0]["message"]
    )
    assert merge(client_for(team.reviewer), run, django_capture_on_commit_callbacks).status_code == 403
    assert not artifacts.json_read(record_name(run.pk))
    assert client_for(team.lead).get(f"/api/training-runs/{run.pk}/").json()["merged"] is None


def test_the_run_page_names_a_refused_merge_by_the_runs_number(
    team: Team, frozen: FreezeFn, django_capture_on_commit_callbacks: Any
) -> None:
    # Given the project's second run, still queued
    version = frozen(team.project, team.lead, count=12)
    run_create(version=version, user=team.lead, base_model="/models/base")
    second = run_create(version=version, user=team.lead, base_model="/models/base")

    # When a lead asks for its merge from the run's page
    with django_capture_on_commit_callbacks(execute=True):
        page = logged_in(team.lead).post(f"/training/{second.pk}/merge/", follow=True).content.decode()

    # Then the refusal names it as the page does ("Run 2"), with the id the API takes
    assert "<h1>Run 2" in page
    assert f"Training run 2 (id {second.pk}) is queued: only the adapter of a run that succeeded" in page


def finished(team: Team, frozen: FreezeFn, base_model: str) -> TrainingRun:
    """A run marked succeeded with a stored adapter that is not a real one."""
    version = frozen(team.project, team.lead, count=12)
    run = run_create(version=version, user=team.lead, base_model=base_model)
    run.adapter_path = f"{artifacts.run_prefix(run.pk)}/adapter"
    default_storage.save(f"{run.adapter_path}/{artifacts.ADAPTER_WEIGHTS}", ContentFile(b"weights"))
    run.adapter_sha256 = "0" * 64
    run.status = JobStatus.SUCCEEDED
    run.save()
    return run


def test_a_failed_merge_says_why_and_may_be_asked_for_again(
    team: Team, frozen: FreezeFn, client_for: Any, django_capture_on_commit_callbacks: Any
) -> None:
    run = finished(team, frozen, "/models/base")
    lead = client_for(team.lead)

    assert merge(lead, run, django_capture_on_commit_callbacks).status_code == 202

    merged = lead.get(f"/api/training-runs/{run.pk}/").json()["merged"]
    assert merged["status"] == "failed" and merged["files"] == []
    assert merged["error"] == f"The stored adapter of training run 1 (id {run.pk}) does not match its sha256."
    assert lead.get(f"/api/training-runs/{run.pk}/merged/config.json/").status_code == 409
    assert not JobHeartbeat.objects.filter(kind=KIND).exists()
    assert merge(lead, run, django_capture_on_commit_callbacks).status_code == 202  # a retry


def test_a_running_merge_is_held_until_its_worker_goes_silent(
    team: Team, frozen: FreezeFn, client_for: Any, django_capture_on_commit_callbacks: Any
) -> None:
    run = finished(team, frozen, "/models/base")
    record = {"status": "running", "host": "gpu-7:42", "started_at": "2025-01-01T00:00:00+00:00"}
    artifacts.json_write(record_name(run.pk), {**artifacts_record(run), **record})
    beat = JobHeartbeat.objects.create(kind=KIND, object_id=run.pk, beat_at=timezone.now(), host="gpu-7:42")
    lead = client_for(team.lead)

    refused = merge(lead, run, django_capture_on_commit_callbacks)
    assert refused.status_code == 409 and "running on gpu-7:42" in refused.json()["errors"][0]["message"]
    merge_execute(run.pk)  # a second delivery drops it
    assert (artifacts.json_read(record_name(run.pk)) or {}).get("host") == "gpu-7:42"

    beat.beat_at = timezone.now() - timedelta(hours=1)
    beat.save()
    merged = lead.get(f"/api/training-runs/{run.pk}/").json()["merged"]
    assert merged["status"] == "failed" and "No heartbeat from its worker (gpu-7:42)" in merged["error"]


def artifacts_record(run: TrainingRun) -> dict[str, Any]:
    return {
        "requested_at": timezone.now().isoformat(),
        "requested_by": None,
        "base_model": run.base_model,
        "adapter_sha256": run.adapter_sha256,
        "finished_at": None,
        "error": "",
        "dtype": None,
        "path": "",
        "files": [],
    }


def test_file_downloads_name_only_the_merged_models_files(
    team: Team, frozen: FreezeFn, client_for: Any, django_capture_on_commit_callbacks: Any
) -> None:
    run = finished(team, frozen, "/models/base")
    lead = client_for(team.lead)
    assert lead.get(f"/api/training-runs/{run.pk}/merged/config.json/").status_code == 409
    files = [{"name": "config.json", "size": 2, "sha256": "1" * 64}]
    done = {"status": "succeeded", "path": f"{artifacts.run_prefix(run.pk)}/merged", "files": files}
    artifacts.json_write(record_name(run.pk), {**artifacts_record(run), **done})
    artifacts.json_write(f"{done['path']}/config.json", {})

    assert body(lead.get(f"/api/training-runs/{run.pk}/merged/config.json/")) == b"{}"
    assert lead.get(f"/api/training-runs/{run.pk}/merged/merged.json/").status_code == 404
    assert lead.get(f"/api/training-runs/{run.pk}/merged/..%2Fadapter/").status_code == 404


def test_the_run_page_offers_the_merge_to_leads_and_lists_the_files(
    team: Team, frozen: FreezeFn, django_capture_on_commit_callbacks: Any
) -> None:
    run = finished(team, frozen, "/models/base")
    assert "merge-run" not in logged_in(team.annotator).get(f"/training/{run.pk}/").content.decode()
    lead = logged_in(team.lead)
    page = lead.get(f"/training/{run.pk}/").content.decode()
    assert 'data-testid="merge-run"' in page and "not made" in page

    with django_capture_on_commit_callbacks(execute=False):
        response = lead.post(f"/training/{run.pk}/merge/")
    assert response.status_code == 302
    page = lead.get(f"/training/{run.pk}/").content.decode()
    assert "Merge queued" in page and "queued" in page and 'data-testid="merge-run"' not in page
