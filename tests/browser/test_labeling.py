"""The labeling queue in headless Chromium: a lead sets an overlap of 2 and queues five inputs, two
annotators label all five from the keyboard (label keys, Enter, k to look back, j to return), the
one input they disagree on becomes a disagreement flag, and the lead keeps one answer in the flag
page. Every page at 1280 and 1024 px without sideways scrolling."""

from __future__ import annotations

import re
from collections.abc import Callable

import krippendorff
import numpy as np
import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Page, expect

from curation.models import (
    AssignmentState,
    Example,
    ExampleStatus,
    Flag,
    FlagKind,
    FlagStatus,
    ItemStatus,
    LabelingAssignment,
    LabelingItem,
    Project,
    Role,
)
from curation.services.labeling import items_enqueue
from tests.browser.conftest import CHROMIUM, assert_fits
from tests.factories import MembershipFactory, ProjectFactory

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason=f"browser tests need Chromium at {CHROMIUM} (apt-get install chromium)"
    ),
]

LogIn = Callable[[User], Page]
Screenshot = Callable[[Page, str], object]

# Each input with the key (1-4: card_arrival, card_linking, exchange_rate, lost_or_stolen_card)
# each annotator presses; they differ on one input only.
INPUTS = {
    "My new card still has not arrived.": ("1", "1"),
    "How do I link my card to the app?": ("2", "2"),
    "What rate do you use for euros?": ("3", "3"),
    "Someone stole my card yesterday.": ("4", "4"),
    "The card came but I cannot add it to the app.": ("1", "2"),
}
DISPUTED = "The card came but I cannot add it to the app."


def label_all(page: Page, project: Project, who: int, screenshot: Screenshot) -> None:
    """Label every input from the keyboard: the label's key, then Enter; the card swaps each time."""
    page.goto(f"/projects/{project.pk}/label/")
    for number in range(len(INPUTS)):
        shown = page.get_by_test_id("label-input").inner_text().strip()
        item = page.locator("[data-label-card]").get_attribute("data-item")
        if number == 0 and who == 0:
            assert_fits(page, "labeling-card", screenshot)
        page.keyboard.press(INPUTS[shown][who])
        expect(page.locator("input[data-label-key]:checked")).to_have_count(1)
        page.keyboard.press("Enter")
        expect(page.get_by_test_id("label-done")).to_have_text(f"Item {item} labeled.")
        if number == 1:
            look_back_and_return(page, shown)
    expect(page.get_by_test_id("label-empty")).to_be_visible()


# No htmx request, swap or settle under way: the card on screen is wired up.
SETTLED = "() => !document.querySelector('.htmx-request, .htmx-swapping, .htmx-settling')"


def look_back_and_return(page: Page, last: str) -> None:
    """k shows the last answer read-only; j goes back to the item held in the queue."""
    held = page.get_by_test_id("label-input").inner_text()
    page.keyboard.press("k")
    expect(page.get_by_test_id("label-input")).to_have_text(last)
    expect(page.get_by_test_id("label-own-answer")).to_be_visible()
    page.wait_for_function(SETTLED)
    page.keyboard.press("j")
    expect(page.get_by_test_id("label-input")).to_have_text(held.strip())
    expect(page.get_by_test_id("label-submit")).to_be_visible()


def test_two_annotators_label_five_inputs_and_the_lead_resolves_their_disagreement(
    transactional_db: None, log_in: LogIn, screenshot: Screenshot
) -> None:
    # Given a classification project with a lead and two annotators
    project = ProjectFactory.create(name="Support intents")
    lead = MembershipFactory.create(project=project, role=Role.LEAD).user
    annotators = [MembershipFactory.create(project=project, role=Role.ANNOTATOR).user for _ in range(2)]

    # When the lead asks for two annotations per input and queues five inputs
    lead_page = log_in(lead)
    lead_page.goto(f"/projects/{project.pk}/settings/")
    lead_page.get_by_label("Annotations per input (overlap)").fill("2")
    lead_page.get_by_test_id("settings-save").click()
    expect(lead_page.get_by_text("Settings saved.")).to_be_visible()
    lead_page.goto(f"/projects/{project.pk}/label/queue/")
    lead_page.get_by_test_id("queue-inputs").fill("\n".join(INPUTS))
    lead_page.get_by_test_id("queue-submit").click()
    expect(lead_page.get_by_text("Queued 5 input(s); 0 already queued.")).to_be_visible()
    assert_fits(lead_page, "labeling-queue", screenshot)

    # And both annotators label all five from the keyboard
    for who, user in enumerate(annotators):
        label_all(log_in(user), project, who, screenshot)

    # Then four inputs agree (one example each) and the fifth is a disagreement flag
    statuses = dict(LabelingItem.objects.filter(project=project).values_list("input", "status"))
    assert statuses == {
        text: ItemStatus.DISAGREED if text == DISPUTED else ItemStatus.AGREED for text in INPUTS
    }
    flag = Flag.objects.get(project=project, kind=FlagKind.DISAGREEMENT, status=FlagStatus.OPEN)

    # When the lead opens it from the flags list and keeps the second annotator's answer
    lead_page.goto(f"/projects/{project.pk}/flags/")
    lead_page.get_by_role("row", name=re.compile("Disagreement")).get_by_role(
        "link", name=str(flag.pk)
    ).click()
    expect(lead_page.get_by_test_id("flag-input")).to_contain_text(DISPUTED)
    answers = lead_page.get_by_test_id("flag-answer")
    expect(answers).to_have_count(2)
    assert_fits(lead_page, "labeling-disagreement", screenshot)
    linking = answers.filter(
        has=lead_page.get_by_test_id("answer-output").get_by_text("card_linking", exact=True)
    )
    expect(linking.get_by_test_id("answer-annotators")).to_have_text(f"Given by 1: {annotators[1].username}")
    lead_page.get_by_label("Resolution note").fill("Linking: the card came, the app is the problem.")
    linking.get_by_test_id("keep-answer").click()
    expect(lead_page.get_by_text(f"Flag {flag.pk} closed.")).to_be_visible()
    # The note box sits below, in another form: keeping an answer carries it along
    assert Flag.objects.get(pk=flag.pk).resolution_note == "Linking: the card came, the app is the problem."

    # Then the kept answer waits for review and the other is rejected
    disputed = Example.objects.filter(project=project, input=DISPUTED)
    assert dict(disputed.values_list("output", "status")) == {
        "card_linking": ExampleStatus.SUBMITTED,
        "card_arrival": ExampleStatus.REJECTED,
    }
    assert Flag.objects.get(pk=flag.pk).status == FlagStatus.RESOLVED

    # And the team page shows Krippendorff's alpha of the two annotators' answers, as the
    # krippendorff package computes it on the same matrix (4 of 5 inputs agree)
    lead_page.goto(f"/projects/{project.pk}/team/")
    expect(lead_page.get_by_test_id("alpha")).to_contain_text(f"{expected_alpha(project, annotators):.3f}")
    assert_fits(lead_page, "labeling-team", screenshot)


def expected_alpha(project: Project, annotators: list[User]) -> float:
    answers = LabelingAssignment.objects.filter(item__project=project, state=AssignmentState.SUBMITTED)
    items = sorted({a.item_id for a in answers})
    codes = {label: code for code, label in enumerate(project.labels)}
    matrix = np.full((len(annotators), len(items)), np.nan)
    rows: dict[int | None, int] = {user.pk: row for row, user in enumerate(annotators)}
    for answer in answers:
        row = rows[answer.annotator_id]
        matrix[row, items.index(answer.item_id)] = codes[answer.output]
    return float(krippendorff.alpha(reliability_data=matrix, level_of_measurement="nominal"))


def test_an_annotator_removed_mid_task_is_told_so_when_the_card_refuses(
    transactional_db: None, log_in: LogIn, console_errors_expected: list[str]
) -> None:
    # The refusal this test provokes, as the browser and htmx log it
    console_errors_expected.extend(["status of 404", "Error Code 404"])
    # Given an annotator holding an item on the label page
    project = ProjectFactory.create(name="Support intents")
    lead = MembershipFactory.create(project=project, role=Role.LEAD).user
    membership = MembershipFactory.create(project=project, role=Role.ANNOTATOR)
    items_enqueue(project=project, user=lead, inputs=[{"input": "Where is my card?"}])
    page = log_in(membership.user)
    page.goto(f"/projects/{project.pk}/label/")
    expect(page.get_by_test_id("label-input")).to_have_text("Where is my card?")

    # When the lead removes them, and they answer from the keyboard
    membership.delete()
    page.keyboard.press("1")
    page.keyboard.press("Enter")

    # Then the page says why nothing happened, rather than leaving the card as it was
    expect(page.get_by_role("alert")).to_contain_text("no longer a member of this project")
    assert not LabelingAssignment.objects.filter(state=AssignmentState.SUBMITTED).exists()
