"""A lead's first pages, in headless Chromium: a new project through the form (the label editor,
the schema editor), changing a label on the settings page, and guidelines read on Write.
Screenshots go to test-output/screenshots/; no page scrolls sideways at 1280 or 1024 px."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Page, expect

from curation.models import GuidelinesRead, Membership, Project, Role, TaskType
from curation.services.examples import example_create
from curation.services.projects import project_update
from tests.browser.conftest import CHROMIUM, Crew, assert_fits
from tests.factories import UserFactory

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason=f"browser tests need Chromium at {CHROMIUM} (apt-get install chromium)"
    ),
]

LogIn = Callable[[User], Page]
Screenshot = Callable[[Page, str], object]
GUIDELINES = "## Good\n\n- *refund*: the customer wants money back.\n\n## Bad\n\n- *other* when a label fits."


def add_label(page: Page, label: str) -> None:
    page.get_by_test_id("label-new").fill(label)
    page.get_by_test_id("label-add").click()


def test_a_user_creates_a_classification_project_with_the_label_editor(
    transactional_db: None, log_in: LogIn, screenshot: Screenshot
) -> None:
    # Given a signed-in user who belongs to no project
    user = UserFactory.create()
    page = log_in(user)
    # When they open New project and fill it in, with labels added, renamed, reordered and removed
    page.get_by_test_id("project-new").click()
    page.get_by_label("Name").fill("Support intents")
    page.get_by_label("Task type").select_option(TaskType.CLASSIFICATION)
    page.get_by_label("Target behavior").fill("Route each support message to one intent.")
    for label in ("refnd", "shipping", "spam", "other"):
        add_label(page, label)
    rows = page.get_by_test_id("label-rows").locator(".label-row")
    rows.nth(0).get_by_role("textbox").fill("refund")  # a typo fixed in place
    rows.nth(2).get_by_role("button", name="Remove label").click()
    rows.nth(2).get_by_role("button", name="Move up").click()  # "other" above "shipping"
    expect(page.locator("[data-task-only=extraction]")).to_be_hidden()
    page.get_by_label("Guidelines").fill(GUIDELINES)
    assert_fits(page, "project-new", screenshot)
    page.get_by_test_id("project-create").click()
    # Then the project exists with the labels in the order shown, and they lead it
    expect(page.get_by_role("heading", name="Support intents", exact=True)).to_be_visible()
    project = Project.objects.get(name="Support intents")
    assert project.labels == ["refund", "other", "shipping"]
    assert project.guidelines == GUIDELINES
    assert Membership.objects.get(project=project, user=user).role == Role.LEAD


def test_the_schema_editor_checks_as_you_type_and_shows_an_example(
    transactional_db: None, log_in: LogIn, screenshot: Screenshot
) -> None:
    page = log_in(UserFactory.create())
    page.goto("/projects/new/")
    page.get_by_label("Name").fill("Receipts")
    page.get_by_label("Task type").select_option(TaskType.EXTRACTION)
    page.get_by_label("Target behavior").fill("Pull the merchant and amount out of a receipt.")
    expect(page.get_by_test_id("label-editor")).to_be_hidden()
    schema = page.get_by_label("Output JSON Schema")
    page.get_by_test_id("schema-starter").click()  # an empty field offers a starting schema
    expect(page.get_by_test_id("schema-status")).to_contain_text("Valid JSON Schema")
    expect(page.get_by_test_id("schema-starter")).to_be_hidden()
    schema.fill('{"type": "object", "properties": {"merchant": {"type": "strin"}}')
    expect(page.get_by_test_id("schema-status")).to_contain_text("Not valid JSON")
    schema.fill('{"type": "object", "properties": {"merchant": {"type": "strin"}}}')
    expect(page.get_by_test_id("schema-status")).to_contain_text("unknown type “strin”")
    valid = {
        "type": "object",
        "properties": {"merchant": {"type": "string"}, "amount": {"type": "number"}},
        "required": ["merchant", "amount"],
    }
    schema.fill(json.dumps(valid))
    expect(page.get_by_test_id("schema-status")).to_contain_text("Valid JSON Schema")
    example = json.loads(page.get_by_test_id("schema-example").inner_text())
    assert set(example) == {"merchant", "amount"}
    assert_fits(page, "project-new-schema", screenshot)
    page.get_by_test_id("project-create").click()
    expect(page.get_by_role("heading", name="Receipts", exact=True)).to_be_visible()
    assert Project.objects.get(name="Receipts").output_schema == valid


def test_a_lead_renames_a_label_and_relabels_its_examples(
    crew: Crew, log_in: LogIn, screenshot: Screenshot
) -> None:
    # Given a lead and an example labeled card_arrival
    lead = Membership.objects.create(project=crew.project, user=UserFactory.create(), role=Role.LEAD).user
    example = example_create(
        project=crew.project,
        user=crew.annotator,
        input="Where is my card?",
        output="card_arrival",
        status="submitted",
    )
    page = log_in(lead)
    page.goto(f"/projects/{crew.project.pk}/settings/")
    # When they rename the label in the editor and save
    page.get_by_test_id("label-rows").get_by_role("textbox").first.fill("card_delivery")
    page.get_by_test_id("settings-save").click()
    # Then the page counts the example under the renamed label before saving anything
    expect(page.get_by_test_id("impact-renamed")).to_have_text("1")
    assert_fits(page, "settings-impact", screenshot)
    page.get_by_label("Move the examples of renamed labels to their new names", exact=False).check()
    page.get_by_test_id("settings-confirm").click()
    expect(page.locator(".message")).to_contain_text("Relabeled 1 example.")
    example.refresh_from_db()
    assert example.output == "card_delivery"
    # And the validation job starts from the same page
    page.get_by_test_id("validation-start").click()
    expect(page.get_by_test_id("validation-jobs")).to_be_visible()
    screenshot(page, "settings-validation")


def test_a_lead_merges_two_labels_by_giving_one_the_others_name(crew: Crew, log_in: LogIn) -> None:
    # Given a lead and an example under card_arrival (the first label)
    lead = Membership.objects.create(project=crew.project, user=UserFactory.create(), role=Role.LEAD).user
    example = example_create(
        project=crew.project, user=crew.annotator, input="Where is my card?", output="card_arrival"
    )
    page = log_in(lead)
    page.goto(f"/projects/{crew.project.pk}/settings/")
    # When they rename card_arrival to card_linking, the second label's name
    rows = page.get_by_test_id("label-rows")
    rows.get_by_role("textbox").first.fill("card_linking")
    expect(rows.locator(".renamed").first).to_have_text("“card_arrival” merges into “card_linking”")
    page.get_by_test_id("settings-save").click()
    # Then the change is counted, still shown as a merge, and saved with the examples moved
    expect(page.get_by_test_id("impact-renamed")).to_have_text("1")
    notes = page.get_by_test_id("label-rows").locator(".renamed")
    expect(notes.first).to_have_text("“card_arrival” merges into “card_linking”")
    expect(notes.nth(1)).to_have_text("")
    page.get_by_label("Move the examples of renamed labels to their new names", exact=False).check()
    page.get_by_test_id("settings-confirm").click()
    expect(page.locator(".message")).to_contain_text("Relabeled 1 example.")
    crew.project.refresh_from_db()
    assert crew.project.labels.count("card_linking") == 1 and "card_arrival" not in crew.project.labels
    example.refresh_from_db()
    assert example.output == "card_linking"


def test_an_annotator_reads_the_guidelines_on_write(
    crew: Crew, log_in: LogIn, screenshot: Screenshot
) -> None:
    # Given guidelines the annotator has not read
    project_update(project=crew.project, user=None, changes={"guidelines": GUIDELINES})
    page = log_in(crew.annotator)
    page.goto(f"/projects/{crew.project.pk}/write/")
    panel = page.get_by_test_id("guidelines-panel")
    expect(panel.get_by_test_id("guidelines-updated")).to_be_visible()
    # When they open the panel
    panel.locator("summary").click()
    # Then they read the rendered guidelines, and the "updated" badge goes, for good
    expect(panel.get_by_role("heading", name="Good")).to_be_visible()
    expect(panel.get_by_test_id("guidelines-updated")).to_have_count(0)
    assert_fits(page, "write-guidelines", screenshot)
    assert GuidelinesRead.objects.get(project=crew.project, user=crew.annotator).revision == 1
    page.reload()
    expect(page.get_by_test_id("guidelines-updated")).to_have_count(0)
    page.goto(f"/projects/{crew.project.pk}/guidelines/")
    assert_fits(page, "guidelines", screenshot)
