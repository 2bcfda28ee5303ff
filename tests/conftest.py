from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from django.contrib.auth.models import User
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from curation.models import Project, Role
from tests.factories import MembershipFactory, ProjectFactory, UserFactory


@dataclass
class Team:
    """A project with one user per role, a member of nothing, and a staff user."""

    project: Project
    annotator: User
    reviewer: User
    lead: User
    outsider: User
    staff: User

    def user(self, name: str) -> User:
        return getattr(self, name)


@pytest.fixture
def team(db: None) -> Team:
    project = ProjectFactory.create()
    members = {role: MembershipFactory.create(project=project, role=role).user for role in Role.values}
    return Team(
        project=project,
        annotator=members[Role.ANNOTATOR],
        reviewer=members[Role.REVIEWER],
        lead=members[Role.LEAD],
        outsider=UserFactory.create(),
        staff=UserFactory.create(is_staff=True),
    )


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def client_for(db: None) -> Callable[[User | None], APIClient]:
    """An API client that sends the user's token (or none, for None)."""

    def make(user: User | None) -> APIClient:
        client = APIClient()
        if user is not None:
            token, _ = Token.objects.get_or_create(user=user)
            client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
        return client

    return make
