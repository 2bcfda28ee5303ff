"""The registry in the web UI: the models page (any signed-in user), linked from the training pages;
the launch forms offer registered models by name, and the training form starts from the chosen
model's recommended settings (the page's script follows a change: tests/browser)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.conftest import Team
from tests.curation.ui_support import logged_in
from tests.training.support import FreezeFn, base_model_row
from training import registry
from training.services import run_create

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_in_tmp")]

TINY = {"hyperparameters": {"learning_rate": 0.005, "epochs": 30, "seed": 3}, "lora": {"r": 64, "alpha": 128}}
SMOL = {"hyperparameters": {"learning_rate": 0.0005, "epochs": 3}, "lora": {"r": 16, "alpha": 32}}


def field_value(page: str, name: str) -> str | None:
    tag = re.search(rf'<input[^>]*name="{name}"[^>]*>', page)
    assert tag, name
    value = re.search(r'value="([^"]*)"', tag.group(0))
    return value.group(1) if value else None


def test_the_models_page_lists_every_registered_model(team: Team) -> None:
    base_model_row("smollm2-135m-instruct", "/models/smollm2", SMOL, weights_sha256="f00d" * 16)
    base_model_row("tiny", "/models/tiny", {}, parameter_count=37_024, has_chat_template=False, license="")

    page = logged_in(team.outsider).get("/base-models/").content.decode()  # in no project

    rows = re.findall(r'<tr id="base-model-\d+" data-testid="base-model">(.*?)</tr>', page, re.DOTALL)
    assert [re.search(r"<strong>(.*?)</strong>", row).group(1) for row in rows] == [  # type: ignore[union-attr]
        "smollm2-135m-instruct",
        "tiny",
    ]
    smol, tiny = rows
    for words in ("/models/smollm2", "134.5M", "8192", "yes", "apache-2.0", "f00df00df00d<", "ops@gpu-1"):
        assert words in smol, words
    assert "epochs 3, learning_rate 0.0005" in smol and "r 16, alpha 32" in smol
    assert "37.0K" in tiny and ">no<" in tiny and "not given" in tiny and ">none<" in tiny
    assert logged_in(None).get("/base-models/")["Location"].startswith("/login/")


def test_training_pages_link_to_the_registered_model(team: Team, frozen: FreezeFn, tiny_copy: Path) -> None:
    model = registry.register_folder(folder=tiny_copy, name="tiny")
    run = run_create(version=frozen(team.project, team.lead), user=team.lead, base_model="tiny")

    runs_page = logged_in(team.annotator).get(f"/projects/{team.project.pk}/training/").content.decode()
    run_page = logged_in(team.annotator).get(f"/training/{run.pk}/").content.decode()

    assert 'href="/base-models/"' in runs_page
    assert f'<a href="/base-models/#base-model-{model.pk}">tiny</a>' in runs_page
    assert f'<a href="/base-models/#base-model-{model.pk}">tiny</a>' in run_page


def test_one_registered_model_is_preselected_with_its_recommendations(team: Team, frozen: FreezeFn) -> None:
    # Given one registered model, which recommends its settings
    base_model_row("tiny", "/models/tiny", TINY)
    frozen(team.project, team.lead)

    # When a lead opens the launch form
    page = logged_in(team.lead).get(f"/projects/{team.project.pk}/training/").content.decode()

    # Then the model is chosen by name and its settings filled in; the page carries them for the script
    assert field_value(page, "base_model") == "tiny"
    assert (field_value(page, "learning_rate"), field_value(page, "epochs")) == ("0.005", "30")
    assert (field_value(page, "r"), field_value(page, "alpha")) == ("64", "128")
    assert (
        '<option value="tiny" label="tiny, 134.5M parameters, context 8,192, chat template · /models/tiny">'
        in page
    )
    assert "/static/training/launch.js" in page


def test_with_several_models_each_carries_its_recommendations_by_name_and_path(
    team: Team, frozen: FreezeFn
) -> None:
    base_model_row("smollm2-135m-instruct", "/models/smollm2", SMOL)
    base_model_row("tiny", "/models/tiny", TINY)
    base_model_row("plain", "/models/plain", {})
    frozen(team.project, team.lead)

    page = logged_in(team.lead).get(f"/projects/{team.project.pk}/training/").content.decode()

    assert field_value(page, "base_model") is None and field_value(page, "learning_rate") is None
    data = re.search(r'<script id="base-model-recommendations" type="application/json">(.*?)</script>', page)
    assert data is not None
    tiny = {"learning_rate": 0.005, "epochs": 30, "r": 64, "alpha": 128}  # the form's fields only
    smol = {"learning_rate": 0.0005, "epochs": 3, "r": 16, "alpha": 32}
    assert json.loads(data.group(1)) == {
        "tiny": tiny,
        "/models/tiny": tiny,
        "smollm2-135m-instruct": smol,
        "/models/smollm2": smol,
        "plain": {},
        "/models/plain": {},
    }


def test_the_evaluation_and_suggestion_forms_offer_registered_models(team: Team, frozen: FreezeFn) -> None:
    base_model_row("tiny", "/models/tiny", TINY)
    version = frozen(team.project, team.lead)
    lead = logged_in(team.lead)

    leaderboard = lead.get(f"/versions/{version.pk}/evaluation/").content.decode()
    suggestions = lead.get(f"/projects/{team.project.pk}/suggestions/").content.decode()

    for page in (leaderboard, suggestions):
        assert '<option value="tiny" label="tiny, 134.5M parameters' in page
        assert field_value(page, "base_model") == "tiny"  # the one registered model, chosen


def test_a_run_launched_from_the_form_by_name_refers_to_the_model(
    team: Team, frozen: FreezeFn, tiny_copy: Path
) -> None:
    model = registry.register_folder(folder=tiny_copy, name="tiny")
    version = frozen(team.project, team.lead)
    response = logged_in(team.lead).post(
        f"/projects/{team.project.pk}/training/", {"version": version.pk, "base_model": "tiny"}
    )
    assert response.status_code == 302
    run = model.training_runs.get()
    assert run.base_model == model.path and run.lora["r"] == 16  # the form posts what it shows
