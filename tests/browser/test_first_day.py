"""A new team's first day, from a fresh database, in headless Chromium (issue 21's walk-through).

Staff invite a lead; the lead signs up through the link, creates a project with labels and
guidelines (and one with a JSON Schema), invites an annotator and a reviewer, who sign up
through their own links; the annotator writes with the guidelines shown, the reviewer sees on
the review card that an example is in an open contradiction flag, and the lead renames a label
and runs the validation job. Every page is screenshotted (test-output/screenshots/first-day-*)
and fits 1280 and 1024 px without sideways scrolling."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Page, expect

from curation.models import Example, Membership, Project, Role, TaskType, ValidationJob
from curation.services.flags import flag_create
from curation.services.projects import project_create
from tests.browser.conftest import CHROMIUM, SCREENSHOTS, assert_fits
from tests.browser.test_demo_tour import DOCS_IMAGES
from tests.factories import UserFactory

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason=f"browser tests need Chromium at {CHROMIUM} (apt-get install chromium)"
    ),
]

LogIn = Callable[[User], Page]
NewPage = Callable[[], Page]
Screenshot = Callable[[Page, str], object]
PASSWORD = "first-Day-passphrase-2026"
GUIDELINES = (
    "## Good\n\n- *card_arrival*: the customer waits for a card.\n\n"
    "## Bad\n\n- *lost_card* when the card is only late."
)
# With FINCH_DOCS_SCREENSHOTS=1 the 1280 px screenshots also go to docs/images/ (getting-started.md).
FOR_THE_DOCS = os.environ.get("FINCH_DOCS_SCREENSHOTS") == "1"
RECEIPT_SCHEMA = {
    "type": "object",
    "properties": {"merchant": {"type": "string"}, "amount": {"type": "number"}},
    "required": ["merchant", "amount"],
}


def fits(page: Page, step: str, screenshot: Screenshot) -> None:
    """The step's page fits both widths (screenshots first-day-<step>-<width>); for the docs too."""
    assert_fits(page, f"first-day-{step}", screenshot)
    if FOR_THE_DOCS:
        shutil.copyfile(SCREENSHOTS / f"first-day-{step}-1280.png", DOCS_IMAGES / f"first-day-{step}.png")


def invite(page: Page, project: Project, role: str) -> str:
    """On the members page, a new invitation link for `role`."""
    page.goto(f"/projects/{project.pk}/people/")
    page.get_by_test_id("invite").get_by_label("Invite a new person as").select_option(role)
    page.get_by_role("button", name="Create invitation link").click()
    return page.get_by_test_id("invitation-link").input_value()


def sign_up(page: Page, link: str, username: str) -> None:
    page.goto(link)
    form = page.get_by_test_id("signup")
    form.get_by_label("Username").fill(username)
    form.get_by_label("Password", exact=True).fill(PASSWORD)
    form.get_by_label("Password again").fill(PASSWORD)
    form.get_by_role("button", name="Sign up and join").click()


def add_label(page: Page, label: str) -> None:
    page.get_by_test_id("label-new").fill(label)
    page.get_by_test_id("label-add").click()


def write(page: Page, text: str, label: str) -> None:
    page.get_by_label("Input", exact=True).fill(text)
    page.get_by_label("Label", exact=True).select_option(label)
    page.get_by_role("button", name="Submit for review").click()
    expect(page.locator(".message").first).to_be_visible()


def test_a_new_teams_first_day(
    transactional_db: None, log_in: LogIn, new_page: NewPage, screenshot: Screenshot
) -> None:
    # Staff invite the team's lead into a first project
    staff = UserFactory.create(is_staff=True)
    welcome = project_create(
        user=staff, name="Welcome", task_type=TaskType.GENERATION, target_behavior="Hello."
    )
    admin_page = log_in(staff)
    lead_link = invite(admin_page, welcome, Role.LEAD)
    fits(admin_page, "people", screenshot)

    # The lead signs up through the link
    lead_page = new_page()
    sign_up(lead_page, lead_link, "lena")
    expect(lead_page.get_by_text("you joined Welcome as lead")).to_be_visible()
    lena = User.objects.get(username="lena")

    # ... creates a classification project with labels and guidelines
    lead_page.goto("/")
    lead_page.get_by_test_id("project-new").click()
    lead_page.get_by_label("Name").fill("Support intents")
    lead_page.get_by_label("Task type").select_option(TaskType.CLASSIFICATION)
    lead_page.get_by_label("Target behavior").fill("Route each support message to one intent.")
    for label in ("card_arrival", "lost_card", "refund"):
        add_label(lead_page, label)
    lead_page.get_by_label("Guidelines").fill(GUIDELINES)
    fits(lead_page, "project-new", screenshot)
    lead_page.get_by_test_id("project-create").click()
    expect(lead_page.get_by_role("heading", name="Support intents", exact=True)).to_be_visible()
    project = Project.objects.get(name="Support intents")
    assert project.labels == ["card_arrival", "lost_card", "refund"]
    assert Membership.objects.get(project=project, user=lena).role == Role.LEAD
    fits(lead_page, "dashboard", screenshot)

    # ... and an extraction project with a JSON Schema, checked as it is typed
    lead_page.goto("/projects/new/")
    lead_page.get_by_label("Name").fill("Receipts")
    lead_page.get_by_label("Task type").select_option(TaskType.EXTRACTION)
    lead_page.get_by_label("Target behavior").fill("Pull the merchant and amount out of a receipt.")
    lead_page.get_by_label("Output JSON Schema").fill(json.dumps(RECEIPT_SCHEMA))
    expect(lead_page.get_by_test_id("schema-status")).to_contain_text("Valid JSON Schema")
    fits(lead_page, "project-new-schema", screenshot)
    lead_page.get_by_test_id("project-create").click()
    expect(lead_page.get_by_role("heading", name="Receipts", exact=True)).to_be_visible()
    assert Project.objects.get(name="Receipts").output_schema == RECEIPT_SCHEMA

    # The lead invites an annotator and a reviewer; each signs up through their link
    annotator_link = invite(lead_page, project, Role.ANNOTATOR)
    reviewer_link = invite(lead_page, project, Role.REVIEWER)
    expect(lead_page.get_by_test_id("invitations")).to_contain_text("pending")
    fits(lead_page, "invitations", screenshot)
    annotator_page, reviewer_page = new_page(), new_page()
    sign_up(annotator_page, annotator_link, "ana")
    expect(annotator_page.get_by_text("you joined Support intents as annotator")).to_be_visible()
    fits(annotator_page, "joined", screenshot)
    sign_up(reviewer_page, reviewer_link, "rui")
    expect(reviewer_page.get_by_text("you joined Support intents as reviewer")).to_be_visible()

    # The annotator writes, with the guidelines shown on Write
    annotator_page.goto(f"/projects/{project.pk}/write/")
    panel = annotator_page.get_by_test_id("guidelines-panel")
    expect(panel.get_by_test_id("guidelines-updated")).to_be_visible()
    panel.locator("summary").click()
    expect(panel.get_by_role("heading", name="Good")).to_be_visible()
    fits(annotator_page, "write", screenshot)
    write(annotator_page, "My new card has not arrived yet.", "card_arrival")
    write(annotator_page, "My new card has not arrived yet!", "lost_card")
    first, second = Example.objects.filter(project=project).order_by("id")
    flag_create(
        project=project,
        user=User.objects.get(username="ana"),
        kind="contradiction",
        example_ids=[first.pk, second.pk],
        note="Same message, two labels.",
    )

    # The reviewer reviews and sees, on the card, that the example is in an open flag
    reviewer_page.goto(f"/projects/{project.pk}/review/")
    expect(reviewer_page.get_by_test_id("review-flag")).to_contain_text("contradiction flag")
    fits(reviewer_page, "review", screenshot)
    reviewer_page.get_by_role("button", name="Approve").click()
    expect(reviewer_page.get_by_test_id("review-done")).to_contain_text("approved")

    # The lead renames a label (its examples follow) and runs the validation job
    lead_page.goto(f"/projects/{project.pk}/settings/")
    lead_page.get_by_test_id("label-rows").get_by_role("textbox").nth(1).fill("card_lost")
    lead_page.get_by_test_id("settings-save").click()
    expect(lead_page.get_by_test_id("impact-renamed")).to_have_text("1")
    fits(lead_page, "settings-impact", screenshot)
    lead_page.get_by_label("Move the examples of renamed labels to their new names", exact=False).check()
    lead_page.get_by_test_id("settings-confirm").click()
    expect(lead_page.locator(".message").first).to_contain_text("Relabeled 1 example.")
    lead_page.get_by_test_id("validation-start").click()
    expect(lead_page.get_by_test_id("validation-jobs")).to_be_visible()
    fits(lead_page, "validation", screenshot)
    second.refresh_from_db()
    assert second.output == "card_lost"
    assert ValidationJob.objects.filter(project=project).exists()
