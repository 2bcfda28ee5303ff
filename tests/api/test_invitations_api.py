"""Invitations over the API, for scripts: a lead makes a link (shown once), lists the project's
invitations with their status, and revokes pending ones."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

import pytest
from django.contrib.auth.models import User
from django.test import Client
from rest_framework.test import APIClient

from curation.models import Invitation, Membership
from tests.conftest import Team

ClientFor = Callable[[User | None], APIClient]
STRONG = "a-Long-enough-passphrase-42"
pytestmark = pytest.mark.django_db


def invite(client_for: ClientFor, team: Team, **body: str) -> dict[str, object]:
    response = client_for(team.lead).post(
        f"/api/projects/{team.project.pk}/invitations/", body or {"role": "reviewer"}, format="json"
    )
    assert response.status_code == 201, response.content
    data: dict[str, object] = response.json()
    return data


def test_a_lead_makes_a_link_that_a_new_person_signs_up_with(team: Team, client_for: ClientFor) -> None:
    made = invite(client_for, team, role="reviewer", email="rita@example.org")
    assert made["status"] == "pending" and made["role"] == "reviewer" and made["email"] == "rita@example.org"
    path = urlsplit(str(made["link"])).path
    assert path.startswith("/invite/")
    Client().post(
        path, {"action": "signup", "new-username": "rita", "new-password1": STRONG, "new-password2": STRONG}
    )
    assert Membership.objects.get(user__username="rita").role == "reviewer"
    listed = client_for(team.lead).get(f"/api/projects/{team.project.pk}/invitations/").json()["results"]
    assert [(i["id"], i["status"], i["accepted_by"]) for i in listed] == [(made["id"], "accepted", "rita")]
    assert "link" not in listed[0]


def test_revoking_stops_the_link_and_twice_is_a_400(team: Team, client_for: ClientFor) -> None:
    made = invite(client_for, team)
    url = f"/api/invitations/{made['id']}/revoke/"
    response = client_for(team.lead).post(url)
    assert response.status_code == 200 and response.json()["status"] == "revoked"
    assert Client().get(urlsplit(str(made["link"])).path).status_code == 404
    again = client_for(team.lead).post(url)
    assert again.status_code == 400 and "only pending ones" in again.json()["errors"][0]["message"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"role": "owner"}, "role"),
        ({"role": "lead", "email": "not-an-address"}, "email"),
        ({"role": "lead", "token": "x"}, "token"),
    ],
)
def test_bad_input_is_named(team: Team, client_for: ClientFor, body: dict[str, str], field: str) -> None:
    response = client_for(team.lead).post(
        f"/api/projects/{team.project.pk}/invitations/", body, format="json"
    )
    assert response.status_code == 400 and field in response.content.decode()
    assert not Invitation.objects.exists()
