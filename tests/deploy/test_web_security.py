"""Browser-facing protections: CSRF on every form and on session-authenticated API writes,
session cookie flags, and one rate on sign-in attempts over every way of signing in (the
sign-in page, the admin's, the token endpoint)."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client
from rest_framework.test import APIClient

from curation.models import AuditEvent, Project
from tests.conftest import Team
from tests.curation.test_ui_access import ACTIONS, Action, World, scene, world

__all__ = ["scene", "world"]  # the UI matrix's fixtures, used here

POSTS = [action for action in ACTIONS if action.method == "post"]
PASSWORD = "a-long-enough-password-42"


@pytest.mark.django_db
@pytest.mark.parametrize("action", POSTS, ids=lambda a: a.name)
def test_every_form_refuses_a_post_without_its_csrf_token(world: World, action: Action) -> None:
    # Given staff (allowed everything) in a browser that checks CSRF, as real ones do
    client = Client(enforce_csrf_checks=True)
    client.force_login(world.team.staff)
    url, data = action.url(world), action.data(world)
    events_before = AuditEvent.objects.count()
    # When the form is posted without the token (a cross-site forgery)
    response = client.post(url, data)
    # Then it is refused and nothing is recorded
    assert response.status_code == 403, (url, response.status_code)
    assert b"CSRF" in response.content
    assert AuditEvent.objects.count() == events_before


@pytest.mark.django_db
def test_session_authenticated_api_writes_need_the_csrf_token_and_token_auth_does_not(
    team: Team, client_for: Any
) -> None:
    body = {"name": "Forged", "task_type": "generation", "target_behavior": "Be kind."}
    browser = APIClient(enforce_csrf_checks=True)
    browser.force_login(team.lead)
    assert browser.post("/api/projects/", body, format="json").status_code == 403
    assert not Project.objects.filter(name="Forged").exists()
    assert client_for(team.lead).post("/api/projects/", body, format="json").status_code == 201


@pytest.mark.django_db
def test_the_session_cookie_is_http_only_and_same_site(team: Team) -> None:
    team.lead.set_password(PASSWORD)
    team.lead.save()
    client = Client()
    response = client.post("/login/", {"username": team.lead.username, "password": PASSWORD})
    assert response.status_code == 302
    cookie = response.cookies["sessionid"]
    assert cookie["httponly"] and cookie["samesite"] == "Lax"
    assert int(cookie["max-age"]) == 24 * 3600


@pytest.mark.django_db
def test_sign_in_attempts_are_rate_limited_per_address(team: Team, settings: Any) -> None:
    settings.FINCH_API_THROTTLE_RATES = {"user": "", "anon": "", "login": "3/minute"}
    cache.clear()
    client = Client()
    guesses = [
        client.post("/login/", {"username": team.lead.username, "password": f"guess {n}"}) for n in range(3)
    ]
    assert [response.status_code for response in guesses] == [200, 200, 200]  # the form, with its error
    refused = client.post("/login/", {"username": team.lead.username, "password": "another guess"})
    assert refused.status_code == 429 and int(refused["Retry-After"]) > 0
    assert b"Too many sign-in attempts" in refused.content
    assert client.get("/login/").status_code == 200  # the page itself still opens
    cache.clear()


@pytest.mark.django_db
def test_the_admin_sign_in_is_rate_limited_and_then_refuses_even_the_right_password(
    team: Team, settings: Any
) -> None:
    # Given staff with a known password, and a rate of 3 attempts a minute
    settings.FINCH_API_THROTTLE_RATES = {"user": "", "anon": "", "login": "3/minute"}
    cache.clear()
    team.staff.set_password(PASSWORD)
    team.staff.save()
    client = Client()
    # When someone guesses 3 times, then sends the right password
    form = {"username": team.staff.username, "next": "/admin/"}
    guesses = [client.post("/admin/login/", {**form, "password": f"guess {n}"}) for n in range(3)]
    right = client.post("/admin/login/", {**form, "password": PASSWORD})
    # Then the guesses got the form back, and the right password is refused with 429: not signed in
    assert [response.status_code for response in guesses] == [200, 200, 200]
    assert right.status_code == 429 and int(right["Retry-After"]) > 0
    assert b"Too many sign-in attempts" in right.content
    assert "_auth_user_id" not in client.session
    cache.clear()


@pytest.mark.django_db
def test_every_way_of_signing_in_shares_one_count_per_address(team: Team, settings: Any) -> None:
    # Given a rate of 3 attempts a minute
    settings.FINCH_API_THROTTLE_RATES = {"user": "", "anon": "", "login": "3/minute"}
    cache.clear()
    guess = {"username": team.lead.username, "password": "a guess"}
    # When one guess goes to each of the three ways of signing in
    answers = [
        Client().post("/login/", guess).status_code,
        Client().post("/admin/login/", guess).status_code,
        APIClient().post("/api/auth/token/", guess).status_code,
    ]
    # Then each was answered, and the next attempt, wherever it goes, is over the rate
    assert answers == [200, 200, 400]
    assert Client().post("/login/", guess).status_code == 429
    assert Client().post("/admin/login/", guess).status_code == 429
    assert APIClient().post("/api/auth/token/", guess).status_code == 429
    cache.clear()
