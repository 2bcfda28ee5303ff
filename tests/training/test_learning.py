"""A run that succeeded but barely learned says so (page, run list, API), and the launch form starts
from the chosen model's recommended settings (issue 21: the form's defaults on the tiny model took
its eval loss from 10.51 to 10.30 under a green badge)."""

from __future__ import annotations

import json
import re
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from transformers import AutoTokenizer

from curation.models import JobStatus
from tests.conftest import Team
from tests.curation.ui_support import logged_in
from tests.training.support import FreezeFn
from training.base_models import SETTINGS_FILE, recommended_settings
from training.learning import learning_verdict
from training.models import TrainingRun
from training.services import run_create
from training.tiny import CHAT_TEMPLATE, RECOMMENDED_HYPERPARAMETERS, RECOMMENDED_LORA

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_in_tmp")]


@pytest.mark.parametrize(
    ("initial", "best", "verdict", "words"),
    [
        (
            10.51,
            10.30,
            "barely",
            "eval loss fell 2% (10.51 → 10.30): the adapter barely learned; try a higher",
        ),
        (2.0, 1.7, "some", "eval loss fell 15%"),
        (10.6, 0.54, "learned", "eval loss fell 95% (10.60 → 0.54): the adapter learned."),
    ],
)
def test_the_verdict_compares_the_best_eval_loss_with_the_one_before_training(
    initial: float, best: float, verdict: str, words: str
) -> None:
    learning = learning_verdict(initial_eval_loss=initial, best_eval_loss=best)
    assert learning is not None and learning.verdict == verdict and words in learning.message


def test_no_verdict_without_both_losses() -> None:
    assert learning_verdict(initial_eval_loss=None, best_eval_loss=1.0) is None
    assert learning_verdict(initial_eval_loss=2.0, best_eval_loss=None) is None


def succeeded_run(team: Team, frozen: FreezeFn, model: str, initial: float, best: float) -> TrainingRun:
    run = run_create(version=frozen(team.project, team.lead), user=team.lead, base_model=model)
    TrainingRun.objects.filter(pk=run.pk).update(
        status=JobStatus.SUCCEEDED, initial_eval_loss=initial, best_eval_loss=best, best_step=40, step=40
    )
    return run


def test_a_run_that_barely_learned_says_so_with_a_warning_not_a_green_badge(
    team: Team, frozen: FreezeFn, tiny_model: str
) -> None:
    # Given a run that succeeded with eval loss 10.51 -> 10.30
    run = succeeded_run(team, frozen, tiny_model, 10.51, 10.30)

    # Then its page says it barely learned, under a warning badge, and its status is not green
    page = logged_in(team.annotator).get(f"/training/{run.pk}/").content.decode()
    assert 'data-verdict="barely"' in page and "barely learned" in page
    assert "Eval loss fell 2% (10.51 → 10.30): the adapter barely learned; try a higher learning rate" in page
    assert re.search(r'class="badge warning" id="run-status">succeeded<', page)
    assert 'class="badge succeeded"' not in page
    # The run list warns too
    listing = logged_in(team.annotator).get(f"/projects/{team.project.pk}/training/").content.decode()
    assert 'class="badge learning-barely"' in listing and 'class="badge succeeded"' not in listing

    # And the API says it, on the run and in the list
    api = logged_in(team.annotator)
    learning = api.get(f"/api/training-runs/{run.pk}/").json()["learning"]
    assert learning["verdict"] == "barely" and learning["eval_loss_fell"] == pytest.approx(0.21 / 10.51)
    assert "barely learned" in learning["message"]
    listed = api.get("/api/training-runs/", {"project": team.project.pk}).json()["results"]
    assert listed[0]["learning"]["verdict"] == "barely"


def test_a_run_that_learned_keeps_its_green_badge_and_an_unfinished_one_has_no_verdict(
    team: Team, frozen: FreezeFn, tiny_model: str
) -> None:
    run = succeeded_run(team, frozen, tiny_model, 10.6, 0.54)
    page = logged_in(team.lead).get(f"/training/{run.pk}/").content.decode()
    assert 'class="badge succeeded" id="run-status"' in page and 'data-verdict="learned"' in page

    queued = run_create(version=run.version, user=team.lead, base_model=tiny_model)
    assert logged_in(team.lead).get(f"/api/training-runs/{queued.pk}/").json()["learning"] is None


def model_folder(root: Path, name: str, recommended: dict[str, Any] | None) -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    if recommended is not None:
        (folder / SETTINGS_FILE).write_text(json.dumps({"recommended": recommended}))
    return folder


def field_value(page: str, name: str) -> str | None:
    tag = re.search(rf'<input[^>]*name="{name}"[^>]*>', page)
    assert tag, name
    value = re.search(r'value="([^"]*)"', tag.group(0))
    return value.group(1) if value else None


def test_one_model_is_preselected_and_the_form_starts_from_its_recommendations(
    team: Team, frozen: FreezeFn, tmp_path: Path, settings: Any
) -> None:
    # Given one base model, which recommends its settings
    settings.FINCH_BASE_MODELS_DIR = tmp_path
    recommended = {"hyperparameters": {"learning_rate": 0.005, "epochs": 30}, "lora": {"r": 64, "alpha": 128}}
    folder = model_folder(tmp_path, "tiny", recommended)
    frozen(team.project, team.lead)

    # When a lead opens the launch form
    page = logged_in(team.lead).get(f"/projects/{team.project.pk}/training/").content.decode()

    # Then the model is chosen and its settings filled in; the page carries them for the script
    assert field_value(page, "base_model") == str(folder)
    assert (field_value(page, "learning_rate"), field_value(page, "epochs")) == ("0.005", "30")
    assert (field_value(page, "r"), field_value(page, "alpha")) == ("64", "128")
    assert 'id="base-model-recommendations"' in page and "/static/training/launch.js" in page
    assert "on this machine when training runs on the CPU" in page


def test_with_several_models_none_is_preselected_and_each_carries_its_recommendations(
    team: Team, frozen: FreezeFn, tmp_path: Path, settings: Any
) -> None:
    settings.FINCH_BASE_MODELS_DIR = tmp_path
    tiny = model_folder(tmp_path, "a-tiny", {"hyperparameters": {"learning_rate": 0.005}, "lora": {"r": 64}})
    model_folder(tmp_path, "b-plain", None)
    model_folder(tmp_path, "c-broken", None).joinpath(SETTINGS_FILE).write_text("{not json")
    frozen(team.project, team.lead)

    page = logged_in(team.lead).get(f"/projects/{team.project.pk}/training/").content.decode()

    assert field_value(page, "base_model") is None and field_value(page, "learning_rate") is None
    data = re.search(r'<script id="base-model-recommendations" type="application/json">(.*?)</script>', page)
    assert data is not None
    assert json.loads(data.group(1)) == {
        str(tiny): {"learning_rate": 0.005, "r": 64},
        str(tmp_path / "b-plain"): {},
        str(tmp_path / "c-broken"): {},
    }


def test_make_tiny_model_writes_the_settings_it_trains_well_with(tmp_path: Path) -> None:
    folder = tmp_path / "tiny"
    call_command(
        "make_tiny_model", str(folder), "--vocab-size", "300", "--hidden-size", "16", stdout=StringIO()
    )
    assert recommended_settings(folder) == {**RECOMMENDED_HYPERPARAMETERS, **RECOMMENDED_LORA}
    assert recommended_settings(folder)["learning_rate"] == 5e-3

    # A model made before models carried settings, or a chat template, gets them with --if-missing
    (folder / SETTINGS_FILE).unlink()
    (folder / "chat_template.jinja").unlink()
    assert not AutoTokenizer.from_pretrained(folder).chat_template
    call_command("make_tiny_model", str(folder), "--if-missing", stdout=StringIO())
    assert recommended_settings(folder)["r"] == 64
    assert AutoTokenizer.from_pretrained(folder).chat_template == CHAT_TEMPLATE
