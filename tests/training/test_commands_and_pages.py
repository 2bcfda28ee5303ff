"""`make_tiny_model`, and the training pages for each role (the browser test drives the launch)."""

from __future__ import annotations

import html
import re
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from transformers import AutoModelForCausalLM, AutoTokenizer

from curation.models import DatasetVersion, JobStatus
from tests.conftest import Team
from tests.curation.ui_support import logged_in
from tests.factories import ExampleFactory
from tests.training.support import FAST, FreezeFn
from training.forms import TrainingRunForm
from training.models import TrainingRun
from training.services import run_create

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_in_tmp")]


def test_make_tiny_model_from_a_project_loads_with_transformers(team: Team, tmp_path: Path) -> None:
    ExampleFactory.create(project=team.project, input="zebra crossing quokka", output="card_arrival")
    folder = tmp_path / "tiny"
    out = StringIO()
    call_command("make_tiny_model", str(folder), "--from-project", str(team.project.pk), stdout=out)
    assert str(folder) in out.getvalue()

    model = AutoModelForCausalLM.from_pretrained(folder)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    assert model.config.num_hidden_layers == 2
    assert tokenizer.eos_token == "<|eos|>" and tokenizer.pad_token == "<|pad|>"
    assert "quokka" in tokenizer.get_vocab() or "Ġquokka" in tokenizer.get_vocab()  # learned from the project
    assert (
        tokenizer.decode(tokenizer("zebra crossing")["input_ids"], skip_special_tokens=True)
        == "zebra crossing"
    )

    before = (folder / "config.json").stat().st_mtime_ns
    call_command("make_tiny_model", str(folder), "--if-missing", stdout=StringIO())
    assert (folder / "config.json").stat().st_mtime_ns == before


def test_make_tiny_model_names_a_missing_project(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="No project 999"):
        call_command("make_tiny_model", str(tmp_path / "x"), "--from-project", "999", stdout=StringIO())


def test_run_pages_for_each_role(team: Team, frozen: FreezeFn, tiny_model: str) -> None:
    version = frozen(team.project, team.lead)
    run = run_create(version=version, user=team.lead, base_model=tiny_model, hyperparameters=FAST)
    runs_url = f"/projects/{team.project.pk}/training/"

    lead_page = logged_in(team.lead).get(runs_url).content.decode()
    assert "Launch a run" in lead_page and f'href="/training/{run.pk}/"' in lead_page
    annotator_page = logged_in(team.annotator).get(runs_url).content.decode()
    assert "Launch a run" not in annotator_page and f'href="/training/{run.pk}/"' in annotator_page
    assert logged_in(team.outsider).get(runs_url).status_code == 404
    assert logged_in(team.outsider).get(f"/training/{run.pk}/").status_code == 404

    detail = logged_in(team.annotator).get(f"/training/{run.pk}/").content.decode()
    assert "Cancel run" not in detail and 'class="loss-chart"' in detail
    assert "Cancel run" in logged_in(team.lead).get(f"/training/{run.pk}/").content.decode()

    assert logged_in(team.annotator).post(f"/training/{run.pk}/cancel/").status_code == 403
    response = logged_in(team.lead).post(f"/training/{run.pk}/cancel/")
    assert response.status_code == 302
    run.refresh_from_db()
    assert run.status == JobStatus.CANCELLED


def test_a_finished_run_is_launched_again_from_its_settings(
    team: Team, frozen: FreezeFn, tiny_model: str
) -> None:
    # Given a run with its own settings, cancelled
    version = frozen(team.project, team.lead)
    run = run_create(
        version=version,
        user=team.lead,
        base_model=tiny_model,
        name="lr sweep",
        hyperparameters={**FAST, "learning_rate": 0.0007},
        lora={"r": 4},
    )
    lead = logged_in(team.lead)
    lead.post(f"/training/{run.pk}/cancel/")
    # When the lead follows "Launch again" from its page
    detail = lead.get(f"/training/{run.pk}/").content.decode()
    assert "Cancel run" not in detail
    link = f'href="/projects/{team.project.pk}/training/?again={run.pk}#launch"'
    assert link in detail
    page = lead.get(f"/projects/{team.project.pk}/training/?again={run.pk}").content.decode()
    # Then the launch form starts from the run's version, model, name and settings
    assert f'<option value="{version.pk}" selected>' in page
    assert f'value="{tiny_model}"' in page and 'value="lr sweep"' in page
    assert 'name="learning_rate" value="0.0007"' in page and 'name="r" value="4"' in page
    assert "Launch again" not in logged_in(team.annotator).get(f"/training/{run.pk}/").content.decode()


def test_launching_again_keeps_the_settings_the_form_has_no_field_for(
    team: Team, frozen: FreezeFn, tiny_model: str
) -> None:
    # Given a cancelled run with settings the launch form does not show
    version = frozen(team.project, team.lead)
    chosen = {"seed": 7, "warmup_ratio": 0.1, "gradient_accumulation_steps": 2}
    lora = {"r": 4, "dropout": 0.2, "target_modules": ["q_proj", "v_proj"]}
    run = run_create(
        version=version, user=team.lead, base_model=tiny_model, hyperparameters={**FAST, **chosen}, lora=lora
    )
    lead = logged_in(team.lead)
    lead.post(f"/training/{run.pk}/cancel/")
    # When the lead launches it again from the form as "Launch again" fills it
    url = f"/projects/{team.project.pk}/training/"
    page = lead.get(f"{url}?again={run.pk}").content.decode()
    assert "kept as they were:" in page and "dropout 0.2" in page and "seed 7" in page
    inputs = re.findall(r'<input[^>]*name="(\w+)"[^>]*value="([^"]*)"', page)
    form = {name: html.unescape(value) for name, value in inputs}
    form = {**form, "version": version.pk, "base_model": tiny_model}
    response = lead.post(url, form)
    assert response.status_code == 302, re.findall(
        r'class="errorlist[^>]*>(.*?)</ul>', response.content.decode()
    )
    # Then the new run has every one of them
    again = TrainingRun.objects.exclude(pk=run.pk).get()
    assert {name: again.hyperparameters[name] for name in chosen} == chosen
    assert (again.lora["dropout"], again.lora["target_modules"], again.lora["r"]) == (
        0.2,
        ["q_proj", "v_proj"],
        4,
    )


def test_the_launch_form_names_a_version_by_its_number_once(team: Team, frozen: FreezeFn) -> None:
    version = frozen(team.project, team.lead)  # named "v1" by default
    form = TrainingRunForm(versions=DatasetVersion.objects.filter(pk=version.pk))
    train, evaluation = version.counts["train"], version.counts["eval"]
    option = f'<option value="{version.pk}">v1 ({train} train, {evaluation} eval)</option>'
    assert option in str(form["version"])


def test_the_launch_form_names_bad_settings(team: Team, frozen: FreezeFn, tiny_model: str) -> None:
    version = frozen(team.project, team.lead)
    response = logged_in(team.lead).post(
        f"/projects/{team.project.pk}/training/",
        {"version": version.pk, "base_model": tiny_model, "batch_size": "0"},
    )
    assert response.status_code == 200
    assert "Ensure this value is greater than or equal to 1." in response.content.decode()
    assert not TrainingRun.objects.exists()


def test_the_run_page_shows_memory_and_scale(team: Team, frozen: FreezeFn, tiny_model: str) -> None:
    version = frozen(team.project, team.lead)
    options = {"gradient_checkpointing": True, "batching": "token_budget", "tokens_per_batch": 2048}
    run = run_create(
        version=version, user=team.lead, base_model=tiny_model, hyperparameters={**FAST, **options}
    )
    page = logged_in(team.annotator).get(f"/training/{run.pk}/").content.decode()
    assert "gradient checkpointing on" in page and "batches of up to 2048 tokens" in page
    assert "GPUs: all (decided by the worker)" in page and "Memory estimate" not in page

    # As a worker records it: two processes under torchrun, the estimate against the GPU's memory.
    TrainingRun.objects.filter(pk=run.pk).update(
        environment={
            "training": {"processes": 2, "device": "cuda", "backend": "nccl", "launcher": "torchrun"}
        },
        preflight={
            "memory": {
                "estimate": {
                    "total": 3 * 1024**3,
                    "weights": 2 * 1024**3,
                    "adapter": 1024**2,
                    "activations": 1024**3,
                    "logits": 1024**2,
                },
                "free_bytes": 80 * 1024**3,
            }
        },
    )
    page = logged_in(team.annotator).get(f"/training/{run.pk}/").content.decode()
    assert "data parallel over 2 processes (torchrun, nccl)" in page
    assert "about 3.0\xa0GB a process" in page and "80.0\xa0GB free on the GPU" in page


def test_the_launch_form_takes_memory_and_scale_options(
    team: Team, frozen: FreezeFn, tiny_model: str
) -> None:
    version = frozen(team.project, team.lead)
    response = logged_in(team.lead).post(
        f"/projects/{team.project.pk}/training/",
        {
            "version": version.pk,
            "base_model": tiny_model,
            "gradient_checkpointing": "on",
            "quantization": "nf4",
            "batching": "token_budget",
            "tokens_per_batch": "4096",
            "gpus": "1",
        },
    )
    assert response.status_code == 302, response.content.decode()[-2000:]
    hyperparameters = TrainingRun.objects.get().hyperparameters
    assert hyperparameters["gradient_checkpointing"] is True and hyperparameters["quantization"] == "nf4"
    assert (hyperparameters["batching"], hyperparameters["tokens_per_batch"]) == ("token_budget", 4096)
    assert hyperparameters["gpus"] == 1
