"""Request rates on the token API: per user, per anonymous address, and a tight one on the token
endpoint; a caller over its rate gets 429 naming the wait, with Retry-After."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from tests.conftest import Team

ClientFor = Callable[..., APIClient]


@pytest.fixture(autouse=True)
def fresh_counts() -> Iterator[None]:
    cache.clear()
    yield
    cache.clear()


def rates(settings: Any, **rates: str) -> None:
    settings.FINCH_API_THROTTLE_RATES = {"user": "", "anon": "", "login": "", **rates}


def assert_throttled(response: Any) -> None:
    assert response.status_code == 429, response.content
    assert int(response["Retry-After"]) > 0
    error = response.json()["errors"][0]
    assert error["code"] == "throttled" and "Expected available in" in error["message"]


@pytest.mark.django_db
def test_password_guessing_on_the_token_endpoint_is_slowed(team: Team, settings: Any) -> None:
    rates(settings, login="3/minute")
    client = APIClient()
    guesses = [
        client.post("/api/auth/token/", {"username": team.lead.username, "password": f"guess {n}"})
        for n in range(3)
    ]
    assert [response.status_code for response in guesses] == [400, 400, 400]
    assert_throttled(client.post("/api/auth/token/", {"username": team.lead.username, "password": "right?"}))


@pytest.mark.django_db
def test_a_user_over_the_rate_gets_429_and_other_users_do_not(
    team: Team, client_for: ClientFor, settings: Any
) -> None:
    rates(settings, user="5/minute")
    path = f"/api/projects/{team.project.pk}/"
    busy = client_for(team.lead)
    assert all(busy.get(path).status_code == 200 for _ in range(5))
    assert_throttled(busy.get(path))
    assert client_for(team.annotator).get(path).status_code == 200


@pytest.mark.django_db
def test_anonymous_callers_are_counted_by_address_whatever_x_forwarded_for_says(settings: Any) -> None:
    # Given no proxy in front (FINCH_NUM_PROXIES=0), X-Forwarded-For is only the client's word;
    # the schema is one of the few paths open to anonymous callers
    rates(settings, anon="2/minute")
    client = APIClient()
    answers = [client.get("/api/schema/", HTTP_X_FORWARDED_FOR=f"10.0.0.{n}").status_code for n in range(2)]
    assert answers == [200, 200]
    response = client.get("/api/schema/", HTTP_X_FORWARDED_FOR="10.0.0.99")
    assert response.status_code == 429 and int(response["Retry-After"]) > 0


@pytest.mark.django_db
def test_an_empty_rate_is_no_limit(team: Team, client_for: ClientFor, settings: Any) -> None:
    rates(settings)
    client = client_for(team.lead)
    assert all(client.get("/api/projects/").status_code == 200 for _ in range(30))


def test_production_rates_are_set_by_default() -> None:
    from config.settings import base

    assert base.FINCH_API_THROTTLE_RATES == {"user": "1200/minute", "anon": "60/minute", "login": "10/minute"}
