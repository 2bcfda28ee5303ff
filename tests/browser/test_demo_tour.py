"""The getting-started tour (docs/getting-started.md) in a real browser, on the demo that
`manage.py demo` builds: every page the guide shows opens and shows what the guide says.

Its screenshots land in test-output/screenshots/tour-*.png; with FINCH_DOCS_SCREENSHOTS=1 the demo
trains for its full 30 epochs (as `make run` does) and the screenshots replace docs/images/, which
is how the guide's pictures are made.
"""

from __future__ import annotations

import io
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from playwright.sync_api import Page, expect

from curation.models import DedupJob, Flag, ImportJob, Project
from curation.services.demo import DEMO_PROJECT_NAME
from evaluation.demo import NOISE_FILE
from evaluation.models import Comparison
from tests.browser.conftest import SCREENSHOTS
from training.models import TrainingRun

DOCS_IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"
FOR_THE_DOCS = os.environ.get("FINCH_DOCS_SCREENSHOTS") == "1"


@pytest.fixture
def demo_admin(transactional_db: None, tiny_model: str, tmp_path: Path, settings: Any) -> tuple[str, str]:
    """The demo, built; the admin's username and password."""
    settings.FINCH_HOME = tmp_path
    settings.MEDIA_ROOT = str(tmp_path / "media")
    epochs = [] if FOR_THE_DOCS else ["--epochs", "2"]
    call_command("demo", "--base-model", tiny_model, *epochs, stdout=io.StringIO())
    return "admin", (tmp_path / "admin-password").read_text().strip()


def test_the_getting_started_tour(
    demo_admin: tuple[str, str],
    new_page: Callable[[], Page],
) -> None:
    project = Project.objects.get(name=DEMO_PROJECT_NAME)
    version = project.versions.get()
    run = TrainingRun.objects.get(version=version)
    comparison = Comparison.objects.get(baseline__version=version)
    noise = ImportJob.objects.get(project=project, filename=NOISE_FILE)
    flag = Flag.objects.filter(project=project, kind="contradiction").earliest("id")
    shots: list[Path] = []
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    page = new_page()
    page.goto("/login/")
    page.get_by_label("Username").fill(demo_admin[0])
    page.get_by_label("Password").fill(demo_admin[1])
    page.get_by_role("button", name="Log in").click()

    def visit(name: str, url: str, *texts: str, drawn: str = "") -> None:
        page.goto(url)
        for text in texts:
            expect(page.locator("body")).to_contain_text(text)
        if drawn:  # a chart the page's script draws after loading its data
            expect(page.locator(drawn).first).to_be_visible()
        shot = SCREENSHOTS / f"tour-{name}.png"
        page.screenshot(path=str(shot))  # the first screenful, as a reader sees the page
        shots.append(shot)

    visit("01-home", "/", DEMO_PROJECT_NAME)
    visit("02-dashboard", f"/projects/{project.pk}/", DEMO_PROJECT_NAME)
    visit("03-import", f"/imports/{noise.pk}/", NOISE_FILE)
    visit("04-duplicates", f"/projects/{project.pk}/duplicates/", f"{DedupJob.objects.get().clusters}")
    visit("05-flags", f"/projects/{project.pk}/flags/", "contradiction")
    visit("06-contradiction", f"/flags/{flag.pk}/", flag.examples.first().input)  # type: ignore[union-attr]
    visit("07-review", f"/projects/{project.pk}/review/")
    visit("08-version", f"/versions/{version.pk}/", version.name, version.sha256[:12])
    visit("09-training", f"/training/{run.pk}/", "demo LoRA", drawn=".loss-chart polyline.eval")
    visit("10-leaderboard", f"/versions/{version.pk}/evaluation/", "baseline", "tuned")
    visit("11-comparison", f"/comparisons/{comparison.pk}/", comparison.get_verdict_display())
    visit("12-audit", f"/projects/{project.pk}/audit/", "Launched training run")

    assert all(path.stat().st_size > 10_000 for path in shots)  # real pages, not blank ones
    if FOR_THE_DOCS:
        DOCS_IMAGES.mkdir(exist_ok=True)
        for path in shots:
            shutil.copyfile(path, DOCS_IMAGES / path.name.removeprefix("tour-"))
