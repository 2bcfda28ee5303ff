"""The members page and the account pages: invitations made, listed and revoked; signing up or in
through a link (once, rate-limited); the picker; role changes and removal; password change and
reset links; the admin is read-only."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.cache import cache
from django.test import Client

from curation.models import AuditEvent, Example, Invitation, InvitationStatus, Membership, Role
from tests.conftest import Team
from tests.curation.ui_support import HTMX, followed_text, logged_in, text, written
from tests.factories import MembershipFactory, UserFactory, sharing_a_project

STRONG = "a-Long-enough-passphrase-42"
pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_counts() -> Iterator[None]:
    cache.clear()
    yield
    cache.clear()


def new_link(team: Team, role: str = "annotator") -> str:
    client = logged_in(team.lead)
    page = followed_text(client, client.post(f"/projects/{team.project.pk}/invitations/", {"role": role}))
    match = re.search(r'data-testid="invitation-link" value="http://testserver(/invite/[^"]+/)"', page)
    assert match, page
    return match.group(1)


class TestInvitations:
    def test_a_lead_makes_a_link_and_sees_it_listed_as_pending(self, team: Team) -> None:
        link = new_link(team, "reviewer")
        page = text(logged_in(team.lead).get(f"/projects/{team.project.pk}/people/"))
        assert link not in page  # shown once: only its hash is kept
        assert "pending" in page and "Reviewer" in page

    def test_reloading_after_creating_a_link_makes_no_second_one_and_shows_it_once(self, team: Team) -> None:
        client = logged_in(team.lead)
        response = client.post(f"/projects/{team.project.pk}/invitations/", {"role": "reviewer"})
        assert response.status_code == 302  # redirect-after-POST: a reload repeats the GET only
        assert response["Location"] == f"/projects/{team.project.pk}/people/"
        assert 'data-testid="invitation-link"' in text(client.get(response["Location"]))
        reloaded = text(client.get(response["Location"]))
        assert 'data-testid="invitation-link"' not in reloaded  # the token is shown once
        assert Invitation.objects.count() == 1

    def test_a_bad_invitation_form_is_answered_on_the_page(self, team: Team) -> None:
        response = logged_in(team.lead).post(
            f"/projects/{team.project.pk}/invitations/", {"role": "reviewer", "email": "not an address"}
        )
        assert response.status_code == 200 and "Enter a valid email address" in text(response)
        assert not Invitation.objects.exists()

    def test_a_new_person_signs_up_through_the_link_and_lands_in_the_project(self, team: Team) -> None:
        link, client = new_link(team, "reviewer"), Client()
        assert "Join " in text(client.get(link))
        response = client.post(
            link,
            {"action": "signup", "new-username": "rita", "new-password1": STRONG, "new-password2": STRONG},
        )
        assert response["Location"] == f"/projects/{team.project.pk}/"
        assert "you joined" in followed_text(client, response)
        assert Membership.objects.get(user__username="rita").role == Role.REVIEWER
        assert client.get(f"/projects/{team.project.pk}/review/").status_code == 200
        again = Client().get(link)
        assert again.status_code == 404 and "not valid" in text(again)

    def test_sign_up_errors_are_shown_and_nothing_is_made(self, team: Team) -> None:
        link = new_link(team)
        response = Client().post(
            link,
            {"action": "signup", "new-username": "rita", "new-password1": "short", "new-password2": "short"},
        )
        assert response.status_code == 400 and "too short" in text(response)
        differ = Client().post(
            link, {"action": "signup", "new-username": "rita", "new-password1": STRONG, "new-password2": "x"}
        )
        assert "The two passwords differ." in text(differ)
        assert not User.objects.filter(username="rita").exists()

    def test_after_a_sign_up_error_the_cursor_stays_in_the_sign_up_form(self, team: Team) -> None:
        taken = team.annotator.username
        response = Client().post(
            new_link(team),
            {"action": "signup", "new-username": taken, "new-password1": STRONG, "new-password2": STRONG},
        )
        assert response.status_code == 400
        assert "autofocus" in _input(text(response), "new-username")
        assert "autofocus" not in _input(text(response), "old-username")

    def test_after_a_sign_in_error_the_cursor_is_in_the_sign_in_form(self, team: Team) -> None:
        response = Client().post(
            new_link(team), {"action": "signin", "old-username": "nobody", "old-password": "wrong"}
        )
        assert "autofocus" in _input(text(response), "old-username")
        assert "autofocus" not in _input(text(response), "new-username")

    def test_an_existing_user_signs_in_through_the_link(self, team: Team) -> None:
        team.outsider.set_password(STRONG)
        team.outsider.save()
        link, client = new_link(team), Client()
        response = client.post(
            link, {"action": "signin", "old-username": team.outsider.username, "old-password": STRONG}
        )
        assert response.status_code == 302
        assert Membership.objects.filter(user=team.outsider, project=team.project).exists()

    def test_a_signed_in_user_accepts(self, team: Team) -> None:
        link = new_link(team)
        client = logged_in(team.outsider)
        assert "Accept and join" in text(client.get(link))
        client.post(link, {"action": "accept"})
        assert AuditEvent.objects.filter(action="invitation.accept", actor=team.outsider).exists()

    def test_a_signed_in_user_cannot_make_a_second_account_with_the_link(self, team: Team) -> None:
        link = new_link(team)
        logged_in(team.outsider).post(
            link,
            {"action": "signup", "new-username": "alt", "new-password1": STRONG, "new-password2": STRONG},
        )
        assert not User.objects.filter(username="alt").exists()
        assert Invitation.objects.get().status == InvitationStatus.PENDING

    def test_there_is_no_open_sign_up(self, team: Team) -> None:
        for path in ("/signup/", "/register/", "/accounts/signup/"):
            assert Client().get(path).status_code == 404
        response = Client().post(
            "/invite/made-up-token/", {"action": "signup", "new-username": "eve", "new-password1": STRONG}
        )
        assert response.status_code == 404 and not User.objects.filter(username="eve").exists()

    def test_posts_to_the_link_are_rate_limited_like_sign_in(self, team: Team, settings: Any) -> None:
        settings.FINCH_API_THROTTLE_RATES = {"user": "", "anon": "", "login": "2/minute"}
        client = Client()
        answers = [client.post("/invite/guess-{n}/", {"action": "accept"}).status_code for n in range(3)]
        assert answers == [404, 404, 429]
        # One count with the sign-in page: the next sign-in attempt is refused too.
        assert client.post("/login/", {"username": "x", "password": "y"}).status_code == 429

    def test_the_invitations_table_shows_whom_each_was_for(self, team: Team) -> None:
        client = logged_in(team.lead)
        client.post(
            f"/projects/{team.project.pk}/invitations/", {"role": "reviewer", "email": "rita@example.org"}
        )
        page = text(client.get(f"/projects/{team.project.pk}/people/"))
        row = re.search(r'<tr data-testid="invitation-\d+">.*?</tr>', page, re.S)
        assert row and "rita@example.org" in row.group(0)

    def test_a_lead_revokes_a_pending_invitation(self, team: Team) -> None:
        link = new_link(team)
        invitation = Invitation.objects.get()
        logged_in(team.lead).post(f"/invitations/{invitation.pk}/revoke/")
        assert Invitation.objects.get().status == InvitationStatus.REVOKED
        assert Client().get(link).status_code == 404

    def test_names_in_the_page_are_escaped(self, team: Team) -> None:
        team.project.name = "<script>alert(1)</script>"
        team.project.save()
        page = text(Client().get(new_link(team)))
        assert "<script>alert(1)</script>" not in page and "&lt;script&gt;" in page


class TestMembers:
    def test_the_picker_offers_only_people_from_the_leads_other_projects(self, team: Team) -> None:
        colleague = UserFactory.create(username="pat-colleague")
        sharing_a_project(team.lead, colleague)
        UserFactory.create(username="pat-stranger")
        options = text(
            logged_in(team.lead).get(f"/projects/{team.project.pk}/people/search/?username=pat", **HTMX)
        )
        assert "pat-colleague" in options and "pat-stranger" not in options
        members = text(
            logged_in(team.lead).get(
                f"/projects/{team.project.pk}/people/search/?username=" + team.annotator.username[:3]
            )
        )
        assert team.annotator.username not in members  # already a member

    def test_a_lead_changes_a_role_and_removes_a_member(self, team: Team) -> None:
        client, url = logged_in(team.lead), f"/projects/{team.project.pk}/members/"
        client.post(url, {"username": team.annotator.username, "role": "reviewer"})
        assert Membership.objects.get(user=team.annotator).role == Role.REVIEWER
        client.post(url, {"username": team.annotator.username, "remove": "1"})
        assert not Membership.objects.filter(user=team.annotator).exists()

    def test_a_lead_who_steps_down_goes_to_the_dashboard(self, team: Team) -> None:
        MembershipFactory.create(project=team.project, role=Role.LEAD)
        response = logged_in(team.lead).post(
            f"/projects/{team.project.pk}/members/", {"username": team.lead.username, "role": "reviewer"}
        )
        assert response["Location"] == f"/projects/{team.project.pk}/"

    def test_the_last_lead_stays(self, team: Team) -> None:
        client, url = logged_in(team.lead), f"/projects/{team.project.pk}/members/"
        response = client.post(url, {"username": team.lead.username, "role": "annotator"})
        assert "at least one lead" in followed_text(client, response)
        assert Membership.objects.get(user=team.lead).role == Role.LEAD

    def test_the_settings_page_links_to_the_members_page(self, team: Team) -> None:
        page = text(logged_in(team.lead).get(f"/projects/{team.project.pk}/settings/"))
        assert f'href="/projects/{team.project.pk}/people/"' in page


class TestPasswords:
    def test_a_user_changes_their_password_and_stays_signed_in(self, team: Team) -> None:
        team.annotator.set_password(STRONG)
        team.annotator.save()
        client = Client()
        client.login(username=team.annotator.username, password=STRONG)
        assert 'href="/account/password/"' in text(client.get("/"))
        new = STRONG + "-new"
        response = client.post(
            "/account/password/", {"old_password": STRONG, "new_password1": new, "new_password2": new}
        )
        assert response.status_code == 302
        assert client.get("/").status_code == 200  # still signed in
        team.annotator.refresh_from_db()
        assert team.annotator.check_password(new)

    def test_a_lead_issues_a_reset_link_that_works_once(self, team: Team) -> None:
        lead = logged_in(team.lead)
        response = lead.post(
            f"/projects/{team.project.pk}/reset-links/", {"username": team.annotator.username}
        )
        page = followed_text(lead, response)
        link = re.search(r'data-testid="reset-link" value="http://testserver([^"]+)"', page)
        assert link, page
        assert link.group(1) not in text(lead.get(response["Location"]))  # shown once, not on reload
        client = Client()
        form = client.get(link.group(1), follow=True)
        assert "Set a new password" in text(form) and 'name="new_password1"' in text(form)
        new = "another-Long-passphrase-7"
        client.post(form.redirect_chain[-1][0], {"new_password1": new, "new_password2": new})
        team.annotator.refresh_from_db()
        assert team.annotator.check_password(new)
        assert "not valid" in text(Client().get(link.group(1), follow=True))

    def test_the_lead_gets_no_reset_link_on_their_own_row(self, team: Team) -> None:
        page = text(logged_in(team.lead).get(f"/projects/{team.project.pk}/people/"))
        assert "Reset link" not in _member_row(page, team.lead.username)
        assert "Reset link" in _member_row(page, team.annotator.username)

    def test_a_reset_link_for_oneself_is_refused(self, team: Team) -> None:
        client = logged_in(team.lead)
        response = client.post(f"/projects/{team.project.pk}/reset-links/", {"username": team.lead.username})
        page = followed_text(client, response)
        assert "cannot issue a reset link for yourself" in page
        assert 'data-testid="reset-link"' not in page

    def test_a_lead_cannot_reset_another_leads_password(self, team: Team) -> None:
        other = MembershipFactory.create(project=team.project, role=Role.LEAD).user
        client = logged_in(team.lead)
        response = client.post(f"/projects/{team.project.pk}/reset-links/", {"username": other.username})
        assert "cannot be given a reset link" in followed_text(client, response)


def _input(page: str, name: str) -> str:
    tag = re.search(rf'<input[^>]*name="{name}"[^>]*>', page)
    assert tag, page
    return tag.group(0)


def _member_row(page: str, username: str) -> str:
    row = re.search(rf'<tr data-testid="member-{re.escape(username)}">.*?</tr>', page, re.S)
    assert row, page
    return row.group(0)


class TestAdmin:
    def test_the_admin_cannot_change_an_example_behind_the_services(self, team: Team) -> None:
        example = written(team.project, team.annotator, "Where is my card?")
        client = logged_in(User.objects.create_superuser("root", "root@example.org", STRONG))
        url = f"/admin/curation/example/{example.pk}/change/"
        assert client.get(url).status_code == 200  # viewable
        response = client.post(
            url, {"input": "Changed behind Finch's back", "output": "x", "status": "approved"}
        )
        assert response.status_code == 403
        assert Example.objects.get(pk=example.pk).input == "Where is my card?"
        for model in ("project", "membership", "example", "flag", "invitation"):
            assert client.get(f"/admin/curation/{model}/add/").status_code == 403
        assert client.get("/admin/training/trainingrun/add/").status_code == 403
