"""A run that succeeded but barely learned says so (page, run list, API), and the tiny model
carries the settings it learns with (issue 21: the form's defaults on the tiny model took its eval
loss from 10.51 to 10.30 under a green badge). The launch form's start from a registered model's
settings is tested in test_registry_pages.py."""

from __future__ import annotations

import re
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from transformers import AutoTokenizer

from curation.models import JobStatus
from tests.conftest import Team
from tests.curation.ui_support import logged_in
from tests.training.support import FreezeFn
from training.base_models import SETTINGS_FILE, form_settings, recommended_file
from training.learning import learning_verdict
from training.models import BaseModel, TrainingRun
from training.registry import register_folder, verify_for_load
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


def test_make_tiny_model_writes_the_settings_it_trains_well_with(tmp_path: Path) -> None:
    folder = tmp_path / "tiny"
    call_command(
        "make_tiny_model", str(folder), "--vocab-size", "300", "--hidden-size", "16", stdout=StringIO()
    )
    written = recommended_file(folder / SETTINGS_FILE)
    assert form_settings(written) == {**RECOMMENDED_HYPERPARAMETERS, **RECOMMENDED_LORA}
    assert written["hyperparameters"]["learning_rate"] == 5e-3
    assert BaseModel.objects.get().recommended == written  # registered with them

    # A registered model's files are never rewritten (its runs would be refused): no template added
    (folder / "chat_template.jinja").unlink()
    BaseModel.objects.all().delete()
    model = register_folder(folder=folder)  # registered without one
    call_command("make_tiny_model", str(folder), "--if-missing", stdout=StringIO())
    assert not AutoTokenizer.from_pretrained(folder).chat_template
    assert verify_for_load(model) == model.weights_sha256

    # A model made before the registry, models' settings and the chat template gets them all
    model.delete()
    (folder / SETTINGS_FILE).unlink()
    call_command("make_tiny_model", str(folder), "--if-missing", stdout=StringIO())
    assert recommended_file(folder / SETTINGS_FILE)["lora"]["r"] == 64
    assert AutoTokenizer.from_pretrained(folder).chat_template == CHAT_TEMPLATE
    assert BaseModel.objects.get().has_chat_template
