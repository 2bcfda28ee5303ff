"""The training launch form starts from the chosen registered model's recommended settings, and a
run whose adapter barely learned says so on its page (issue 21), in headless Chromium."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Page, expect

from curation.models import JobStatus, Role
from tests.browser.conftest import CHROMIUM, Crew
from tests.factories import MembershipFactory
from tests.training.support import FreezeFn, base_model_row
from training.models import TrainingRun
from training.services import run_create

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason=f"browser tests need Chromium at {CHROMIUM} (apt-get install chromium)"
    ),
]

LogIn = Callable[[User], Page]
Screenshot = Callable[[Page, str], object]


def test_choosing_a_model_fills_in_its_recommended_settings(
    crew: Crew, log_in: LogIn, screenshot: Screenshot, frozen: FreezeFn
) -> None:
    # Given two registered base models with their own recommendations, and a frozen version
    tiny = "tiny"
    base_model_row(
        tiny, "/models/tiny", {"hyperparameters": {"learning_rate": 0.005, "epochs": 30}, "lora": {"r": 64}}
    )
    large = base_model_row(
        "large",
        "/models/large",
        {"hyperparameters": {"learning_rate": 0.0002, "epochs": 3}, "lora": {"r": 16}},
    ).path  # chosen by its path: the script knows both
    lead = MembershipFactory.create(project=crew.project, role=Role.LEAD).user
    frozen(crew.project, lead)
    page = log_in(lead)
    page.goto(f"/projects/{crew.project.pk}/training/")

    # When the lead chooses the tiny model, then the large one
    page.get_by_label("Base model").fill(tiny)

    # Then the form follows each model's recommendations
    expect(page.get_by_label("Learning rate")).to_have_value("0.005")
    expect(page.get_by_label("Epochs")).to_have_value("30")
    expect(page.get_by_label("LoRA r")).to_have_value("64")
    screenshot(page, "training-launch-recommended")
    page.get_by_label("Base model").fill(large)
    expect(page.get_by_label("Learning rate")).to_have_value("0.0002")
    expect(page.get_by_label("Epochs")).to_have_value("3")
    expect(page.get_by_label("LoRA r")).to_have_value("16")


def test_a_run_that_barely_learned_shows_a_warning(
    crew: Crew, log_in: LogIn, screenshot: Screenshot, frozen: FreezeFn, tiny_model: str
) -> None:
    # Given a run that succeeded with its eval loss going from 10.51 to 10.30
    lead = MembershipFactory.create(project=crew.project, role=Role.LEAD).user
    run = run_create(version=frozen(crew.project, lead), user=lead, base_model=tiny_model)
    TrainingRun.objects.filter(pk=run.pk).update(
        status=JobStatus.SUCCEEDED, initial_eval_loss=10.51, best_eval_loss=10.30, best_step=40, step=40
    )

    # When the lead opens it, then it says plainly that the adapter barely learned
    page = log_in(lead)
    page.goto(f"/training/{run.pk}/")
    expect(page.get_by_test_id("learning-verdict")).to_have_text("barely learned")
    expect(page.get_by_test_id("learning-message")).to_contain_text(
        "the adapter barely learned; try a higher"
    )
    expect(page.locator("#run-status")).to_have_class("badge warning")
    screenshot(page, "training-run-barely-learned")
