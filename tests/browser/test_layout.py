"""Every page of the web UI at 1280, 1024 and 390 px wide (a phone), on the demo's data: none
scrolls sideways (`document.documentElement.scrollWidth <= window.innerWidth`; a data table may
scroll inside itself), each is screenshotted (under test-output/screenshots/layout-*.png); then the few layout promises that need a browser: a long
project name on one navigation line, undo from the review queue, and a confirmed cancel.

The pages come from config/urls.py (as tests/curation/test_ui_access.py finds them), so a new page
is swept without editing this file; a route the demo has no object for gets one made here.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from django.urls import URLPattern
from django.utils import timezone
from playwright.sync_api import Browser, Dialog, Page, expect
from pytest_django.live_server_helper import LiveServer

from config import urls as config_urls
from curation.models import (
    DedupJob,
    DuplicateCluster,
    Example,
    ExampleStatus,
    Flag,
    ImportJob,
    LabelingItem,
    Project,
    Suggestion,
)
from curation.services.demo import DEMO_PROJECT_NAME
from curation.services.export_jobs import export_job_create
from curation.services.invitations import invitation_create
from curation.services.labeling import items_enqueue
from evaluation.demo import NOISE_FILE
from evaluation.models import Comparison, DriftReport, EvalRun, SuggestionRun
from evaluation.monitoring import deployment_create
from evaluation.services import comparison_create
from tests.browser.conftest import SCREENSHOTS
from tests.browser.test_demo_tour import demo_admin  # noqa: F401  (the fixture)
from tests.evaluation.test_pages_and_command import scored_run
from training.models import TrainingRun

pytestmark = pytest.mark.any_database  # its subject is not the database

WIDTHS = (1280, 1024, 390)  # 390: a phone (finch.css's max-width: 640px block)
# Not pages: health probes, sign-in/out, the favicon, the admin and the API (included URL confs)
# are left out, and the password-reset page, whose link needs a user's token (its width is checked
# with the other account pages in tests/browser/test_people.py).
NOT_SWEPT = {"health", "ready", "login", "logout", "admin-login", "favicon", "password-reset"}
# Pages a route needs a query for.
QUERIES = {"flag-compare": "?other={second}"}
NO_SCROLL = "document.documentElement.scrollWidth <= window.innerWidth"
# What sticks out past the window's right edge (the innermost such elements, as tag#id.class),
# so that a failure names what to fix; a scrolling box's content is inside it, so not counted.
STICKING_OUT = """() => {
  const out = el => el.getBoundingClientRect().right > window.innerWidth + 0.5;
  const scrolls = el => ["auto", "scroll", "hidden"].includes(getComputedStyle(el).overflowX);
  const inScrollBox = el => {
    for (let box = el.parentElement; box && box !== document.body; box = box.parentElement) {
      if (scrolls(box)) return true;
    }
    return false;
  };
  const name = el => el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") +
    [...el.classList].map(c => "." + c).join("");
  return [...document.body.querySelectorAll("*")]
    .filter(el => out(el) && !inScrollBox(el) && ![...el.children].some(out))
    .slice(0, 3).map(name);
}"""
LONG_NAME = "Customer support intents, EMEA 2026"  # 35 characters
LONG_MODEL_PATH = "/srv/finch-shared/models/base/Qwen2.5-0.5B-Instruct-banking77-merged-r16-a32-2026-12-05"


def demo_objects(admin: Any) -> dict[str, Any]:
    """An id for each path parameter, from the demo (and an export job, a deployment with two
    reports, and a queued run, which the demo does not make)."""
    project = Project.objects.get(name=DEMO_PROJECT_NAME)
    version = project.versions.get()
    run = TrainingRun.objects.get(version=version)
    flag = Flag.objects.filter(project=project, kind="contradiction").earliest("id")
    first, second = (member.example_id for member in flag.memberships.order_by("position")[:2])
    deployment = deployment_create(training_run=run, user=admin, name="support-bot")
    now = timezone.now()
    reports = [
        DriftReport.objects.create(
            deployment=deployment,
            window_start=now,
            window_end=now,
            n=70,
            enough_data=True,
            ood_rate=rate,
            input_drift=0.6,
            alert=rate > 0.2,
            reasons=["Out of distribution: 30%."] if rate > 0.2 else [],
        )
        for rate in (0.1, 0.3)
    ]
    return {
        "project": project,
        "project_id": project.pk,
        "example_id": first,
        "second": second,
        "flag_id": flag.pk,
        "cluster_id": DuplicateCluster.objects.filter(project=project).earliest("id").pk,
        "import_job_id": ImportJob.objects.get(project=project, filename=NOISE_FILE).pk,
        "export_job_id": export_job_create(project=project, user=admin, file_format="jsonl", filters={}).pk,
        "version_id": version.pk,
        "run_id": run.pk,
        "comparison_id": with_fixes(version, admin).pk,
        **long_model_run(version, run),
        "deployment_id": deployment.pk,
        "report_id": reports[-1].pk,
        **invitation(project, admin),
        **labeling_queue(project, admin),
        **suggestion_run(project, admin),
    }


def labeling_queue(project: Project, admin: Any) -> dict[str, Any]:
    """Inputs in the labeling queue, so the label page shows a card (the demo queues none) and
    the queue page a list; the label routes need no id of their own."""
    long_input = "My card was charged twice for the same coffee and the app shows " * 4
    items_enqueue(project=project, user=admin, inputs=[{"input": long_input}, {"input": "Rate today?"}])
    return {}


def suggestion_run(project: Project, admin: Any) -> dict[str, Any]:
    """A finished suggestion run on the queued inputs, with a long prompt card (the demo runs none)."""
    items = list(LabelingItem.objects.filter(project=project))
    card = {
        "system_prompt": "Answer with the intent label only. " * 12,
        "few_shot": 0,
        "decoding": {"strategy": "label_scores"},
    }
    run = SuggestionRun.objects.create(
        project=project,
        base_model="/models/a-rather-long-folder-name/Qwen2.5-0.5B-Instruct",
        status="succeeded",
        target_ids=[item.pk for item in items],
        n_targets=len(items),
        n_done=len(items),
        prompt_card=card,
        created_by=admin,
    )
    Suggestion.objects.bulk_create(
        Suggestion(run=run, project=project, item=item, output=project.labels[0], confidence=0.61)
        for item in items
    )
    return {"suggestion_run_id": run.pk}


def long_model_run(version: Any, training_run: TrainingRun) -> dict[str, Any]:
    """A tuned eval run whose model is a long folder path: its Model cell pushed the evaluation
    page sideways at 1024 px (the demo's own model path is short)."""
    EvalRun.objects.create(
        version=version,
        training_run=training_run,
        base_model=LONG_MODEL_PATH,
        status="succeeded",
        metrics={"accuracy": 0.5, "invalid_label": 0.0},
        n=version.counts["eval"],
    )
    return {}


def invitation(project: Project, admin: Any) -> dict[str, Any]:
    """A pending invitation's id (for its revoke form) and its token (for its page)."""
    pending, token = invitation_create(project=project, user=admin, role="annotator")
    return {"invitation_id": pending.pk, "token": token}


def with_fixes(version: Any, admin: Any) -> Comparison:
    """A comparison whose Fixes table is full (the demo's short run may flip few items): its
    buttons and Input column are what pushed the page sideways at 1280 px."""
    eval_ids = list(version.items.filter(split="eval").values_list("example_id", flat=True))
    baseline = scored_run(version, dict.fromkeys(eval_ids[:12], "a_label_the_baseline_made_up_for_this_item"))
    candidate = scored_run(version, {})
    return comparison_create(baseline=baseline, candidate=candidate, user=admin)


def swept_pages(ids: dict[str, Any]) -> list[tuple[str, str]]:
    """(route name, URL) for every route of config/urls.py with the demo's ids filled in."""
    pages = []
    for pattern in config_urls.urlpatterns:
        if not isinstance(pattern, URLPattern) or pattern.name in NOT_SWEPT:
            continue
        route = str(pattern.pattern)

        def value(match: re.Match[str], route: str = route) -> str:
            name = match.group(1)
            if name == "job_id":  # imports/<job_id>/ and exports/<job_id>/
                name = f"{route.split('/')[0].rstrip('s')}_job_id"
            return str(ids[name])

        path = "/" + re.sub(r"<(?:\w+:)?(\w+)>", value, route)
        pages.append((str(pattern.name), path + QUERIES.get(str(pattern.name), "").format(**ids)))
    errors = [
        ("error-404-project", "/projects/999999/"),
        ("error-404-not-a-number", "/examples/abc/"),
        ("error-400-filter", f"/projects/{ids['project_id']}/examples/?status=bogus"),
    ]
    return [*pages, *errors]


def signed_in(new_page: Callable[[], Page], login: tuple[str, str]) -> Page:
    page = new_page()
    page.goto("/login/")
    page.get_by_label("Username").fill(login[0])
    page.get_by_label("Password").fill(login[1])
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("heading", name="Projects").wait_for()
    return page


def test_no_page_scrolls_sideways_at_1280_1024_or_390(
    demo_admin: tuple[str, str],  # noqa: F811
    new_page: Callable[[], Page],
    browser: Browser,
    live_server: LiveServer,
) -> None:
    from django.contrib.auth.models import User

    ids = demo_objects(User.objects.get(username=demo_admin[0]))
    project: Project = ids["project"]
    Project.objects.filter(pk=project.pk).update(name=LONG_NAME)
    page = signed_in(new_page, demo_admin)
    # Error pages answer 4xx, which the browser logs as a console error (the fixture's page fails
    # a test on those): they are swept in a second context with the same session.
    errors = browser.new_context(base_url=live_server.url, storage_state=page.context.storage_state())
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    too_wide, seen = [], []
    for name, url in swept_pages(ids):
        if page.request.get(url).status == 405:
            continue  # a form's target (POST only): its page is the one its form is on
        seen.append(name)
        tab = errors.new_page() if name.startswith("error-") else page
        for width in WIDTHS:
            tab.set_viewport_size({"width": width, "height": 900})
            tab.goto(url)
            if not tab.evaluate(NO_SCROLL):
                scroll_width = tab.evaluate("document.documentElement.scrollWidth")
                too_wide.append((name, width, scroll_width, tab.evaluate(STICKING_OUT)))
            tab.screenshot(path=str(SCREENSHOTS / f"layout-{name}-{width}.png"))
        if name.startswith("error-"):
            expect(tab.locator("[data-testid=error-page], [data-testid=filter-error]")).to_be_visible()
            tab.close()
    errors.close()
    assert not too_wide, too_wide
    assert {"comparison", "version", "deployment", "training-run", "review", "error-404-not-a-number"} <= set(
        seen
    )

    # The 35-character project name keeps the navigation on one line at 1280 px, cut with an ellipsis.
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(f"/projects/{project.pk}/")
    expect(page.get_by_test_id("project-name")).to_have_attribute("title", LONG_NAME)
    nav = page.locator(".projectnav").bounding_box()
    assert nav is not None and nav["height"] < 50, nav
    page.goto(f"/projects/{project.pk}/examples/")
    assert page.locator(".badge").first.evaluate("el => getComputedStyle(el).whiteSpace") == "nowrap"


def test_undo_from_the_review_queue_and_a_confirmed_cancel(
    demo_admin: tuple[str, str],  # noqa: F811
    new_page: Callable[[], Page],
) -> None:
    project = Project.objects.get(name=DEMO_PROJECT_NAME)
    page = signed_in(new_page, demo_admin)

    # Undo: decide with a key, then press u; the example is back to submitted, on the card again.
    page.goto(f"/projects/{project.pk}/review/")
    card = page.locator("[data-review-card]")
    decided = int(card.get_attribute("data-example") or 0)
    page.keyboard.press("a")
    expect(page.get_by_test_id("review-undo")).to_be_visible()
    page.wait_for_timeout(300)  # htmx wires the swapped card up after it settles (20 ms)
    page.keyboard.press("u")
    expect(page.get_by_test_id("review-done")).to_contain_text(f"example {decided} is submitted again")
    expect(card).to_have_attribute("data-example", str(decided))
    assert Example.objects.get(pk=decided).status == ExampleStatus.SUBMITTED
    page.screenshot(path=str(SCREENSHOTS / "layout-review-undone.png"))

    # Cancel asks first: dismissing keeps the queued run, accepting cancels it.
    version = project.versions.get()
    queued = TrainingRun.objects.create(
        version=version, base_model="/models/base", version_sha256=version.sha256
    )
    page.goto(f"/training/{queued.pk}/")
    expect(page.get_by_test_id("run-steps")).to_have_text("queued: waiting for a worker")
    answers: list[str] = []

    def answer(dialog: Dialog) -> None:
        answers.append(dialog.message)
        dialog.dismiss() if len(answers) == 1 else dialog.accept()

    page.on("dialog", answer)
    page.get_by_test_id("cancel-run").click()
    page.wait_for_timeout(300)
    queued.refresh_from_db()
    assert queued.status == "queued" and answers and answers[0].startswith("Cancel run")
    page.get_by_test_id("cancel-run").click()
    expect(page.locator("#run-status")).to_have_text("cancelled")
    assert DedupJob.objects.filter(project=project).exists()  # the demo's data is what was swept
