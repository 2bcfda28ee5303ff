"""Bringing people in, in headless Chromium: a lead makes an invitation link on the members page
and copies it; a new person opens it in their own browser, signs up, and lands in the project
with the role. The pages fit 1280 and 1024 px without sideways scrolling."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Page, expect

from curation.models import Membership, Role
from tests.browser.conftest import CHROMIUM, Crew, assert_fits
from tests.factories import MembershipFactory

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason=f"browser tests need Chromium at {CHROMIUM} (apt-get install chromium)"
    ),
]

LogIn = Callable[[User], Page]
Screenshot = Callable[[Page, str], object]
NEW_PASSWORD = "a-Long-enough-passphrase-42"


def test_a_lead_invites_and_a_new_reviewer_signs_up_through_the_link(
    crew: Crew, log_in: LogIn, new_page: Callable[[], Page], screenshot: Screenshot
) -> None:
    lead = MembershipFactory.create(project=crew.project, role=Role.LEAD).user
    page = log_in(lead)
    page.goto(f"/projects/{crew.project.pk}/settings/")
    page.get_by_test_id("people-link").click()
    expect(page.get_by_test_id("members")).to_contain_text(crew.annotator.username)
    page.get_by_test_id("invite").get_by_label("Invite a new person as").select_option("reviewer")
    page.get_by_role("button", name="Create invitation link").click()
    link = page.get_by_test_id("invitation-link").input_value()
    page.get_by_test_id("new-invitation").get_by_role("button", name="Copy").click()
    expect(page.get_by_test_id("new-invitation").get_by_role("button", name="Copied")).to_be_visible()
    expect(page.get_by_test_id("invitations")).to_contain_text("pending")
    assert_fits(page, "people", screenshot)

    newcomer = new_page()
    newcomer.goto(link)
    expect(newcomer.get_by_role("heading", name=f"Join {crew.project.name}")).to_be_visible()
    assert_fits(newcomer, "invitation", screenshot)
    form = newcomer.get_by_test_id("signup")
    form.get_by_label("Username").fill("rita")
    form.get_by_label("Password", exact=True).fill(NEW_PASSWORD)
    form.get_by_label("Password again").fill(NEW_PASSWORD)
    form.get_by_role("button", name="Sign up and join").click()
    expect(newcomer.get_by_text(f"you joined {crew.project.name} as reviewer")).to_be_visible()
    expect(
        newcomer.get_by_role("navigation", name="Project").get_by_role("link", name="Review")
    ).to_be_visible()
    assert Membership.objects.get(user__username="rita", project=crew.project).role == Role.REVIEWER

    page.reload()
    expect(page.get_by_test_id("invitations")).to_contain_text("accepted")
    expect(page.get_by_test_id("members")).to_contain_text("rita")
    # The link worked once (a second use is a 404 page: tests/curation/test_ui_people.py).


def test_a_user_changes_their_password_from_the_top_bar(
    crew: Crew, log_in: LogIn, screenshot: Screenshot
) -> None:
    page = log_in(crew.annotator)
    page.get_by_test_id("password-change-link").click()
    expect(page.get_by_test_id("password-change")).to_be_visible()
    assert_fits(page, "password-change", screenshot)
    page.get_by_label("Old password").fill("pw-for-tests")
    page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("New password confirmation").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Change password").click()
    expect(page.get_by_text("Your password was changed.")).to_be_visible()
    crew.annotator.refresh_from_db()
    assert crew.annotator.check_password(NEW_PASSWORD)
