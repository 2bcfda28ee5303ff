"""The main flows through the web UI, in headless Chromium, as a person does them.

Each test is a short story: given some data, when a person types, clicks and presses keys,
then the page shows the result and the database holds it. Full-page screenshots of the main
pages go to test-output/screenshots/.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from curation.models import (
    DatasetVersion,
    Example,
    ExampleStatus,
    Flag,
    FlagKind,
    FlagResolution,
    FlagStatus,
    JobStatus,
    Review,
    Role,
    VersionItem,
)
from curation.services.examples import example_create, example_review
from curation.services.flags import flag_create
from tests.browser.conftest import CHROMIUM, PASSWORD, Crew
from tests.evaluation.test_pages_and_command import scored_run
from tests.factories import ExampleFactory, MembershipFactory
from tests.training.support import FreezeFn
from training.models import TrainingRun

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason=f"browser tests need Chromium at {CHROMIUM} (apt-get install chromium)"
    ),
]

LogIn = Callable[[User], Page]
Screenshot = Callable[[Page, str], object]

ARRIVAL = "I ordered a new card two weeks ago and it still has not arrived."
DISTINCT_MESSAGES = [
    "What rate do you use to convert dollars to euros?",
    "My new card is not here yet.",
    "Is the exchange rate fixed when I pay abroad?",
    "How long does delivery of a replacement card take?",
    "Why did I get fewer pounds than the rate on the website?",
    "Can you track where my card is in the post?",
    "Which currencies can I hold in the app?",
    "It has been ten days and nothing arrived in the mailbox.",
    "Do you add a fee on top of the interbank rate at weekends?",
    "The courier says delivered but I have no card.",
    "How often do you update the rates shown?",
    "Can I get the card sent to my office instead?",
]


def submitted(crew: Crew, text: str, label: str) -> Example:
    """An example the annotator wrote and submitted for review."""
    return example_create(
        project=crew.project, user=crew.annotator, input=text, output=label, status=ExampleStatus.SUBMITTED
    )


def open_project(page: Page, crew: Crew) -> None:
    """From the project list (where logging in lands), open the project's dashboard."""
    page.get_by_role("link", name=crew.project.name, exact=True).click()
    expect(page.get_by_role("heading", name=crew.project.name, exact=True)).to_be_visible()


def go_to(page: Page, section: str) -> None:
    """Follow a link of the project's navigation bar."""
    nav = page.get_by_role("navigation", name="Project")
    nav.get_by_role("link", name=section, exact=True).click()
    expect(nav.locator("[aria-current=page]")).to_have_text(section)


def test_annotator_writes_an_example_and_finds_it_in_the_examples_table(
    crew: Crew, new_page: Callable[[], Page], screenshot: Screenshot
) -> None:
    # Given an annotator of a classification project, on the login page
    page = new_page()
    page.goto("/login/")

    # When they log in, open the project, write an example, pick its label and submit it
    page.get_by_label("Username").fill(crew.annotator.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    open_project(page, crew)
    screenshot(page, "dashboard")
    go_to(page, "Write")
    page.get_by_label("Input", exact=True).fill(ARRIVAL)
    page.get_by_label("Label", exact=True).select_option("card_arrival")
    screenshot(page, "write")
    page.get_by_role("button", name="Submit for review").click()

    # Then it is saved as submitted, by them
    expect(page.locator("p.message")).to_contain_text("saved as submitted")
    example = Example.objects.get(project=crew.project)
    assert (example.input, example.output, example.status, example.created_by) == (
        ARRIVAL,
        "card_arrival",
        ExampleStatus.SUBMITTED,
        crew.annotator,
    )

    # And it is a row of the Examples table
    go_to(page, "Examples")
    row = page.locator("#rows").get_by_role("row").filter(has_text=ARRIVAL)
    expect(row).to_have_count(1)
    for text in (str(example.pk), "Submitted", "card_arrival", crew.annotator.username):
        expect(row).to_contain_text(text)
    screenshot(page, "browse")


def on_the_review_queue(crew: Crew, log_in: LogIn) -> tuple[Example, Example, Page]:
    """Two examples the annotator submitted, and the reviewer on the review queue."""
    first = submitted(crew, ARRIVAL, "card_arrival")
    second = submitted(crew, "What rate do you use when I pay in euros?", "exchange_rate")
    page = log_in(crew.reviewer)
    open_project(page, crew)
    go_to(page, "Review")
    return first, second, page


def test_reviewer_approves_and_requests_changes_from_the_keyboard_without_a_reload(
    crew: Crew, log_in: LogIn, screenshot: Screenshot
) -> None:
    # Given two submitted examples, and a reviewer on the review queue
    first, second, page = on_the_review_queue(crew, log_in)
    card = page.locator("[data-review-card]")
    expect(card).to_have_attribute("data-example", str(first.pk))
    expect(card).to_contain_text(ARRIVAL)
    screenshot(page, "review-card")
    page.evaluate("window.finchBeforeKeys = 'same page'")

    # When they press `a`
    page.keyboard.press("a")

    # Then the first is approved and the card shows the second
    expect(card).to_contain_text(f"Example {first.pk}: approved.")
    expect(card).to_have_attribute("data-example", str(second.pk))

    # When they press `c`, type what should change and press Enter
    page.keyboard.press("c")
    comment = page.get_by_label("Comment")
    expect(comment).to_be_focused()
    page.keyboard.type("Say which currency the card is in.")
    page.keyboard.press("Enter")

    # Then the second is sent back and the queue is empty, all on the same page (no reload)
    expect(card).to_contain_text(f"Example {second.pk}: needs changes.")
    expect(card).to_contain_text("Nothing left to review")
    assert page.evaluate("window.finchBeforeKeys") == "same page"
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, second.status) == (ExampleStatus.APPROVED, ExampleStatus.NEEDS_CHANGES)
    reviews = list(Review.objects.order_by("id").values_list("example", "reviewer", "decision", "comment"))
    assert reviews == [
        (first.pk, crew.reviewer.pk, "approve", ""),
        (second.pk, crew.reviewer.pk, "request_changes", "Say which currency the card is in."),
    ]


def test_a_comment_sent_as_soon_as_the_next_card_arrives_goes_through_htmx(
    crew: Crew, log_in: LogIn, screenshot: Screenshot
) -> None:
    # Given a reviewer on the review queue, with htmx wiring a swapped-in card only after 3 s
    # (its settle delay, 20 ms by default: a fast reviewer, or a busy browser, beats that)
    first, second, page = on_the_review_queue(crew, log_in)
    page.evaluate("htmx.config.defaultSettleDelay = 3000; window.finchBeforeKeys = 'same page'")
    card = page.locator("[data-review-card]")

    # When they approve the first, and request changes on the second with a comment and Enter
    # before htmx has wired its card
    page.keyboard.press("a")
    expect(card).to_have_attribute("data-example", str(second.pk))
    page.keyboard.press("c")
    page.keyboard.type("Say which currency the card is in.")
    page.keyboard.press("Enter")

    # Then the comment went through htmx (not a native submit: no reload), with the decision
    expect(card).to_contain_text(f"Example {second.pk}: needs changes.")
    assert page.evaluate("window.finchBeforeKeys") == "same page"
    assert Review.objects.get(example=second).comment == "Say which currency the card is in."
    assert first.reviews.count() == 1


def test_annotator_fixes_an_example_sent_back_and_resubmits_it(
    crew: Crew, log_in: LogIn, screenshot: Screenshot
) -> None:
    # Given an example a reviewer sent back with a comment
    example = submitted(crew, "My card has not come yet.", "card_arrival")
    comment = "Say how long you have been waiting."
    example_review(example=example, user=crew.reviewer, decision="request_changes", comment=comment)
    sent_back_revision = Example.objects.get(pk=example.pk).revision

    # When the annotator opens My work
    page = log_in(crew.annotator)
    open_project(page, crew)
    go_to(page, "My work")

    # Then they see the example with the reviewer's comment
    row = page.get_by_role("row").filter(has_text="My card has not come yet.")
    expect(row).to_contain_text("Needs changes")
    expect(row).to_contain_text(comment)
    screenshot(page, "my-work")

    # When they fix the input and save and submit it
    row.get_by_role("link", name="Fix").click()
    sent_back = page.locator("p.message.error")
    expect(sent_back).to_contain_text(f"Sent back by {crew.reviewer.username}: {comment}")
    fixed = "My card has not come yet and I have been waiting for two weeks."
    page.get_by_label("Input", exact=True).fill(fixed)
    page.get_by_role("button", name="Save and submit").click()

    # Then it is submitted again with the new input, and no longer waits in My work
    expect(page.get_by_role("heading", name=f"Example {example.pk}")).to_contain_text("Submitted")
    example.refresh_from_db()
    assert (example.status, example.input, example.output) == (ExampleStatus.SUBMITTED, fixed, "card_arrival")
    assert example.revision > sent_back_revision
    go_to(page, "My work")
    expect(page.get_by_text("Nothing waiting for you.")).to_be_visible()


def test_annotator_flags_two_contradicting_examples(
    crew: Crew, log_in: LogIn, screenshot: Screenshot
) -> None:
    # Given two examples that label the same situation differently, and an unrelated one
    first = submitted(crew, ARRIVAL, "card_arrival")
    second = submitted(crew, "My new card never arrived, it has been two weeks.", "lost_or_stolen_card")
    unrelated = submitted(crew, "Which exchange rate do you use for euros?", "exchange_rate")
    page = log_in(crew.annotator)
    open_project(page, crew)
    go_to(page, "Examples")
    page.locator("#rows").get_by_role("link", name=str(first.pk), exact=True).click()
    expect(page.get_by_role("heading", name=f"Example {first.pk}")).to_be_visible()

    # When they choose "Flag a contradiction…", search for the other one and compare them
    page.get_by_role("link", name="Flag a contradiction…").click()
    search = page.get_by_label("Search examples")
    search.clear()
    search.press_sequentially("never arrived")
    results = page.locator("#results")
    match = results.get_by_role("row").filter(has_text=second.input)
    expect(match).to_be_visible()
    expect(results).not_to_contain_text(unrelated.input)
    match.get_by_role("link", name="Compare").click()
    expect(page.get_by_role("heading", name="Do these two contradict each other?")).to_be_visible()
    screenshot(page, "flag-compare")

    # And write a note and raise the flag
    note = "Same situation, two different labels."
    page.get_by_label("Note for the reviewer").fill(note)
    page.get_by_role("button", name="Flag as contradiction").click()

    # Then the flag page shows the note and both examples side by side
    expect(page.get_by_role("heading", name=re.compile(r"Contradiction flag \d+"))).to_contain_text("open")
    expect(page.get_by_text(note)).to_be_visible()
    sides = page.locator(".pair .card")
    expect(sides).to_have_count(2)
    for side, title, example in ((sides.nth(0), "First", first), (sides.nth(1), "Second", second)):
        for text in (title, f"example {example.pk}", example.input, example.output):
            expect(side).to_contain_text(text)
    screenshot(page, "flag")
    flag = Flag.objects.get()
    members = list(flag.memberships.order_by("position").values_list("example", flat=True))
    assert (flag.kind, flag.status, flag.note, flag.created_by, members) == (
        FlagKind.CONTRADICTION,
        FlagStatus.OPEN,
        note,
        crew.annotator,
        [first.pk, second.pk],
    )


def test_reviewer_resolves_a_contradiction_by_keeping_the_first(
    crew: Crew, log_in: LogIn, screenshot: Screenshot
) -> None:
    # Given an open contradiction flag on two examples
    first = submitted(crew, ARRIVAL, "card_arrival")
    second = submitted(crew, "My new card never arrived, it has been two weeks.", "lost_or_stolen_card")
    note = "Same situation, two different labels."
    flag = flag_create(
        project=crew.project,
        user=crew.annotator,
        kind=FlagKind.CONTRADICTION,
        example_ids=[first.pk, second.pk],
        note=note,
    )

    # When a reviewer opens it from the Flags page and keeps the first
    page = log_in(crew.reviewer)
    open_project(page, crew)
    go_to(page, "Flags")
    page.get_by_role("row").filter(has_text=note).locator("td").first.get_by_role("link").click()
    expect(page.get_by_role("heading", name=f"Contradiction flag {flag.pk}")).to_be_visible()
    page.get_by_label("Resolution note").fill("Not yet lost: it is still a card arrival question.")
    page.get_by_role("button", name="Keep the first, reject the second").click()

    # Then the flag is closed that way, and the second example is rejected
    expect(page.get_by_text("Closed as Keep the first, reject the second")).to_be_visible()
    expect(page.locator(".pair .card").nth(1)).to_contain_text("rejected")
    screenshot(page, "flag-resolved")
    first.refresh_from_db()
    second.refresh_from_db()
    flag.refresh_from_db()
    assert (first.status, second.status) == (ExampleStatus.SUBMITTED, ExampleStatus.REJECTED)
    assert (flag.status, flag.resolution, flag.resolved_by) == (
        FlagStatus.RESOLVED,
        FlagResolution.KEEP_FIRST,
        crew.reviewer,
    )


def test_second_reviewer_of_the_same_example_is_told_of_the_conflict(
    crew: Crew, log_in: LogIn, screenshot: Screenshot
) -> None:
    # Given two reviewers, each in their own browser, looking at the same submitted example
    example = submitted(crew, ARRIVAL, "card_arrival")
    first_reviewer, second_reviewer = log_in(crew.reviewer), log_in(crew.second_reviewer)
    for page in (first_reviewer, second_reviewer):
        open_project(page, crew)
        go_to(page, "Review")
        expect(page.locator("[data-review-card]")).to_have_attribute("data-example", str(example.pk))

    # When the first approves it
    first_reviewer.keyboard.press("a")
    expect(first_reviewer.locator("[data-review-card]")).to_contain_text(f"Example {example.pk}: approved.")

    # And the second, still seeing the old version, rejects it
    second_reviewer.keyboard.press("r")

    # Then the second is told someone else got there first, and shown the current version
    card = second_reviewer.locator("[data-review-card]")
    expect(card.get_by_role("alert")).to_have_text(
        "Someone changed or reviewed this example while you were reading it. Here is the current version."
    )
    expect(card).to_have_attribute("data-example", str(example.pk))
    screenshot(second_reviewer, "review-conflict")

    # And only the first decision counts
    example.refresh_from_db()
    assert example.status == ExampleStatus.APPROVED
    assert list(Review.objects.values_list("reviewer", "decision")) == [(crew.reviewer.pk, "approve")]


def test_lead_freezes_a_version_and_reads_its_card(crew: Crew, log_in: LogIn, screenshot: Screenshot) -> None:
    # Given a lead, approved examples of two labels, and one example still submitted
    lead = MembershipFactory.create(project=crew.project, role=Role.LEAD).user
    for index, text in enumerate(DISTINCT_MESSAGES):
        label = "card_arrival" if index % 2 else "exchange_rate"
        ExampleFactory.create(project=crew.project, input=text, output=label, status=ExampleStatus.APPROVED)
    submitted(crew, ARRIVAL, "card_arrival")
    page = log_in(lead)
    open_project(page, crew)
    go_to(page, "Versions")

    # When the lead opens the freeze page, sees what goes in and why not, and freezes
    page.get_by_role("link", name="Freeze a new version").click()
    expect(page.locator(".stat.included .n")).to_have_text("12")
    expect(page.get_by_role("row", name=re.compile("not approved"))).to_contain_text("1 submitted")
    screenshot(page, "version-freeze")
    page.get_by_label("Eval share").fill("0.25")
    page.get_by_label("Note").fill("first clean set")
    page.get_by_role("button", name="Freeze 12 examples").click(no_wait_after=True)

    # Then the version page shows it frozen, with its split, labels, leakage and downloads (the
    # first freeze in a process loads the embedding and tokenizer models: allow for it)
    expect(page.get_by_role("heading", name="Version 1", exact=True)).to_be_visible(timeout=90_000)
    expect(page.locator(".badge.frozen")).to_have_text("frozen")
    expect(page.locator(".leakage")).to_contain_text("no near-duplicate pairs")
    expect(page.get_by_role("link", name="train.jsonl").first).to_be_visible()
    screenshot(page, "version")
    version = DatasetVersion.objects.get()
    assert version.counts == {"train": 9, "eval": 3}
    assert version.note == "first clean set"


def test_lead_launches_a_training_run_and_watches_its_loss_curves(
    crew: Crew, log_in: LogIn, screenshot: Screenshot, frozen: FreezeFn, tiny_model: str
) -> None:
    # Given a lead and a frozen version of a small labelled set
    lead = MembershipFactory.create(project=crew.project, role=Role.LEAD).user
    version = frozen(crew.project, lead)
    page = log_in(lead)
    open_project(page, crew)
    go_to(page, "Training")

    # When the lead picks the version and a local base model and launches (the run trains on
    # the CPU within the request here: the test settings run tasks eagerly)
    expect(page.get_by_role("cell", name="No training runs yet.")).to_be_visible()
    page.get_by_label("Version").select_option(str(version.pk))
    page.get_by_label("Base model").fill(tiny_model)
    page.get_by_label("Epochs").fill("3")
    page.get_by_label("Learning rate").fill("0.005")
    page.get_by_role("button", name="Launch").click()

    # Then the run's page shows it succeeded, with both loss curves drawn and its adapter
    expect(page.get_by_role("heading", name=re.compile(r"^Run \d+"))).to_be_visible(timeout=60_000)
    expect(page.locator("#run-status")).to_have_text("succeeded")
    expect(page.locator(".loss-chart polyline.loss.train")).to_have_count(1)
    expect(page.locator(".loss-chart polyline.loss.eval")).to_have_count(1)
    expect(page.get_by_role("link", name="Download")).to_be_visible()
    screenshot(page, "training-run")
    run = TrainingRun.objects.get()
    assert run.status == "succeeded" and run.hyperparameters["learning_rate"] == 0.005

    # And the project's run list shows it with its best eval loss
    go_to(page, "Training")
    row = page.get_by_role("row", name=re.compile(r"^1 "))  # the project's first run
    expect(row).to_contain_text("succeeded")
    expect(row).to_contain_text(f"{run.best_eval_loss:.4f}")
    screenshot(page, "training-runs")


def test_a_run_page_opened_while_queued_follows_its_status_and_best_loss(
    crew: Crew, log_in: LogIn, frozen: FreezeFn, live_server: LiveServer
) -> None:
    # Given a run's page opened while the run waits for a worker
    lead = MembershipFactory.create(project=crew.project, role=Role.LEAD).user
    version = frozen(crew.project, lead)
    run = TrainingRun.objects.create(
        version=version, base_model="/models/base", version_sha256=version.sha256, status=JobStatus.QUEUED
    )
    page = log_in(lead)
    page.goto(f"{live_server.url}/training/{run.pk}/")
    expect(page.locator("#run-status")).to_have_text("queued")

    # When a worker takes it and its first evaluations land
    TrainingRun.objects.filter(pk=run.pk).update(
        status=JobStatus.RUNNING,
        step=4,
        total_steps=10,
        best_step=4,
        best_eval_loss=1.2345,
        initial_eval_loss=2.0,
    )

    # Then the page follows without a reload: the badge, the steps and the best eval loss
    expect(page.locator("#run-status")).to_have_text("running")
    expect(page.locator("#run-steps")).to_have_text("step 4 of 10")
    expect(page.locator("#run-best")).to_have_text(
        "· best eval loss 1.2345 at step 4 (before training 2.0000)"
    )


def test_lead_compares_the_tuned_model_with_the_baseline_and_sends_a_regression_back(
    crew: Crew, log_in: LogIn, screenshot: Screenshot, frozen: FreezeFn, live_server: LiveServer
) -> None:
    # Given a frozen version with a finished baseline and a tuned eval run that fixes ten of its
    # 18 eval items and breaks one
    lead = MembershipFactory.create(project=crew.project, role=Role.LEAD).user
    version = frozen(crew.project, lead, count=90)
    eval_ids = list(
        VersionItem.objects.filter(version=version, split="eval").values_list("example_id", flat=True)
    )
    baseline = scored_run(version, dict.fromkeys(eval_ids[:10], "wrong"))
    tuned = scored_run(version, {eval_ids[10]: "wrong"})
    page = log_in(lead)
    page.goto(f"{live_server.url}/versions/{version.pk}/evaluation/")

    # When the lead compares the tuned run with the baseline
    expect(page.locator("#leaderboard tbody tr")).to_have_count(2)
    page.get_by_label("Baseline").select_option(str(baseline.pk))
    page.get_by_label("Candidate").select_option(str(tuned.pk))
    page.get_by_role("button", name="Compare").click()

    # Then the verdict, its reason and the interval are shown, with the items that flipped
    page.wait_for_url("**/comparisons/**")
    expect(page.locator("#verdict")).to_have_text("Ship")
    expect(page.locator(".interval-chart line.interval")).to_have_count(1)
    expect(page.locator("table.flipped").first.locator("tbody tr")).to_have_count(1)
    screenshot(page, "comparison")

    # And the regression goes back to the review queue
    page.locator("table.flipped").first.get_by_role("button", name="Send back for review").click()
    expect(page.get_by_text("is back in the review queue")).to_be_visible()
    assert Example.objects.get(pk=eval_ids[10]).status == ExampleStatus.SUBMITTED
