"""Issue 26 in the browser: a lead edits the filler words on the settings page, starts a MinHash
job from the Duplicates page, and reads why a retyped copy was grouped with its original.
Screenshots go to test-output/screenshots/."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Page, expect

from curation.models import Example, Role
from tests.browser.conftest import CHROMIUM, assert_fits
from tests.factories import ExampleFactory, MembershipFactory, ProjectFactory

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason=f"browser tests need Chromium at {CHROMIUM} (apt-get install chromium)"
    ),
]

LogIn = Callable[[User], Page]
Screenshot = Callable[[Page, str], object]


def test_a_lead_sees_why_a_retyped_copy_is_a_duplicate(
    transactional_db: None, log_in: LogIn, screenshot: Screenshot
) -> None:
    # Given a project with a request, its copy retyped with a typo and a filler ("yo", not a
    # default filler), and an unrelated request
    project = ProjectFactory.create()
    lead = MembershipFactory.create(project=project, role=Role.LEAD).user
    original = ExampleFactory.create(project=project, input="Is payment required to get a card of my own?")
    copy = ExampleFactory.create(project=project, input="yo, is payment required to get a crad of my own")
    ExampleFactory.create(project=project, input="What is the exchange rate for euros today?")
    page = log_in(lead)
    # When the lead adds "yo" to the filler words in the settings
    page.goto(f"/projects/{project.pk}/settings/")
    fillers = page.get_by_test_id("filler-words")
    fillers.fill(fillers.input_value() + "\nyo")
    assert_fits(page, "settings-fillers", screenshot)
    page.get_by_test_id("settings-save").click()
    expect(page.get_by_test_id("settings-form")).to_be_visible()
    # And starts a MinHash job at 0.8, its default, typed in (the browser's own check of the
    # field once refused it)
    page.goto(f"/projects/{project.pk}/duplicates/")
    page.locator("select[name=method]").select_option("minhash")
    page.locator("input[name=threshold]").fill("0.8")
    page.get_by_role("button", name="Start").click()
    # Then the copy is a duplicate of the original, and the page says why
    expect(page.locator(".cluster")).to_have_count(1)
    expect(page.locator(".cluster .reason").filter(has_text="'crad' read as 'card'")).to_contain_text(
        "filler words 'yo' stripped"
    )
    assert_fits(page, "duplicates-reason", screenshot)
    assert Example.objects.get(pk=copy.pk).duplicate_of_id == original.pk
