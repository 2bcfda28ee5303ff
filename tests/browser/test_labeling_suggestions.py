"""Model-assisted labeling in headless Chromium: a lead starts a suggestion run of the tiny model
on two queued inputs from the suggestion runs page (a real run on the CPU; Celery is eager in
tests, so it finishes within the request); an annotator accepts one suggestion with the `a` key
and corrects the other by choosing a different label; the answers record accepted and replaced,
and so do the examples they became."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Page, expect

from curation.models import Example, JobStatus, LabelingAssignment, Role, Suggestion, SuggestionUse
from curation.services.labeling import items_enqueue
from evaluation.models import SuggestionRun
from tests.browser.conftest import CHROMIUM, assert_fits
from tests.factories import MembershipFactory, ProjectFactory
from tests.training.support import LABELS

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason=f"browser tests need Chromium at {CHROMIUM} (apt-get install chromium)"
    ),
]

LogIn = Callable[[User], Page]
Screenshot = Callable[[Page, str], object]
INPUTS = ["My card still has not arrived", "What exchange rate do you use"]
# No htmx request, swap or settle under way: the card on screen is wired up.
SETTLED = "() => !document.querySelector('.htmx-request, .htmx-swapping, .htmx-settling')"


def test_an_annotator_accepts_one_suggestion_with_a_key_and_corrects_another(
    transactional_db: None, log_in: LogIn, screenshot: Screenshot, tiny_model: str
) -> None:
    # Given queued inputs and a lead's suggestion run of the base model over them
    project = ProjectFactory.create(name="Support intents", labels=LABELS)
    lead = MembershipFactory.create(project=project, role=Role.LEAD).user
    annotator = MembershipFactory.create(project=project, role=Role.ANNOTATOR).user
    items_enqueue(project=project, user=lead, inputs=[{"input": text} for text in INPUTS])
    lead_page = log_in(lead)
    lead_page.goto(f"/projects/{project.pk}/suggestions/")
    lead_page.get_by_label("Base model", exact=True).fill(tiny_model)
    lead_page.get_by_role("button", name="Launch suggestion run").click()
    expect(lead_page.locator("#run-status")).to_have_text("succeeded")
    expect(lead_page.get_by_test_id("run-progress")).to_contain_text("2 of 2 inputs done")
    run = SuggestionRun.objects.get(project=project)
    assert (run.status, run.base_model, run.created_by) == (JobStatus.SUCCEEDED, tiny_model, lead)
    suggested = {s.item_id: s for s in Suggestion.objects.filter(run=run)}

    # When the annotator opens the label page, the suggestion is shown, marked, and picked
    page = log_in(annotator)
    page.goto(f"/projects/{project.pk}/label/")
    first = int(page.locator("[data-label-card]").get_attribute("data-item") or 0)
    box = page.get_by_test_id("label-suggestion")
    expect(box).to_contain_text("Model suggestion")
    expect(box).to_contain_text(f"{suggested[first].output}")
    expect(box).to_contain_text(f"confidence {suggested[first].confidence:.0%}")
    expect(page.locator("input[data-label-key]:checked")).to_have_value(suggested[first].output)
    assert_fits(page, "labeling-suggestion", screenshot)

    # And accepts it with `a`
    page.keyboard.press("a")
    expect(page.get_by_test_id("label-done")).to_have_text(f"Item {first} labeled.")
    page.wait_for_function(SETTLED)

    # Then on the next item they pick a label other than the suggested one and submit
    second = int(page.locator("[data-label-card]").get_attribute("data-item") or 0)
    assert second != first
    other = next(label for label in LABELS if label != suggested[second].output)
    page.keyboard.press(str(LABELS.index(other) + 1))
    expect(page.locator("input[data-label-key]:checked")).to_have_value(other)
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("label-done")).to_have_text(f"Item {second} labeled.")
    expect(page.get_by_test_id("label-empty")).to_be_visible()

    # Then the answers record what was done with each suggestion, as do the examples they became
    answers = {a.item_id: a for a in LabelingAssignment.objects.filter(annotator=annotator)}
    assert (answers[first].output, answers[first].suggestion_id, answers[first].suggestion_use) == (
        suggested[first].output,
        suggested[first].pk,
        SuggestionUse.ACCEPTED,
    )
    assert (answers[second].output, answers[second].suggestion_use) == (other, SuggestionUse.REPLACED)
    uses = dict(Example.objects.filter(project=project).values_list("labeling_item_id", "suggestion_use"))
    assert uses == {first: SuggestionUse.ACCEPTED, second: SuggestionUse.REPLACED}
