"""Invitations and password-reset links, at the service level: hashed, single-use, expiring,
revocable, audited; sign-up only through an invitation, with Django's password validators; leads
may reset only the passwords of annotators and reviewers who lead nothing and are not staff."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.contrib.auth.tokens import default_token_generator
from django.core import mail
from django.utils import timezone

from curation.errors import InvalidInput
from curation.models import AuditEvent, Invitation, InvitationStatus, Membership, Role
from curation.services.invitations import (
    NOT_VALID,
    invitation_accept,
    invitation_create,
    invitation_mail,
    invitation_revoke,
    invitation_sign_up,
    token_hash,
)
from curation.services.passwords import password_reset_link
from curation.services.projects import addable_users, membership_set
from tests.conftest import Team
from tests.factories import MembershipFactory, UserFactory, sharing_a_project

STRONG = "a-Long-enough-passphrase-42"
pytestmark = pytest.mark.django_db


def test_only_a_hash_of_the_token_is_stored_and_creation_is_audited(team: Team) -> None:
    invitation, token = invitation_create(project=team.project, user=team.lead, role=Role.REVIEWER)
    assert len(token) >= 40
    stored = Invitation.objects.get(pk=invitation.pk)
    assert stored.token_hash == token_hash(token) != token
    assert token not in str(Invitation.objects.filter(pk=invitation.pk).values().first())
    assert stored.status == InvitationStatus.PENDING
    assert AuditEvent.objects.filter(action="invitation.create", target_id=invitation.pk).exists()


def test_the_expiry_is_a_setting(team: Team, settings: Any) -> None:
    settings.FINCH_INVITATION_DAYS = 2
    invitation, _ = invitation_create(project=team.project, user=team.lead, role=Role.ANNOTATOR)
    days = (invitation.expires_at - timezone.now()).total_seconds() / 86400
    assert 1.99 < days <= 2


def test_sign_up_joins_with_the_role_once(team: Team) -> None:
    _, token = invitation_create(project=team.project, user=team.lead, role=Role.REVIEWER)
    user, membership = invitation_sign_up(token=token, username="newcomer", password=STRONG)
    assert membership.project == team.project and membership.role == Role.REVIEWER
    assert user.check_password(STRONG)
    joined = AuditEvent.objects.get(action="invitation.accept")
    assert joined.actor == user and "newcomer joined as reviewer" in joined.summary
    with pytest.raises(InvalidInput, match="not valid"):
        invitation_sign_up(token=token, username="second", password=STRONG)
    assert not User.objects.filter(username="second").exists()


@pytest.mark.parametrize(
    ("password", "problem"),
    [("short1", "too short"), ("password123", "too common")],
)
def test_sign_up_runs_the_password_validators(team: Team, password: str, problem: str) -> None:
    _, token = invitation_create(project=team.project, user=team.lead, role=Role.ANNOTATOR)
    with pytest.raises(InvalidInput, match=problem):
        invitation_sign_up(token=token, username="newcomer", password=password)
    assert not User.objects.filter(username="newcomer").exists()
    assert Invitation.objects.get().status == InvitationStatus.PENDING


def test_a_taken_name_is_refused_without_using_the_invitation(team: Team) -> None:
    _, token = invitation_create(project=team.project, user=team.lead, role=Role.ANNOTATOR)
    with pytest.raises(InvalidInput, match="Choose another user name"):
        invitation_sign_up(token=token, username=team.outsider.username.upper(), password=STRONG)
    assert Invitation.objects.get().status == InvitationStatus.PENDING


@pytest.mark.parametrize(
    ("username", "problem"),
    [
        ("carol x/../<b>", "may contain only letters, numbers, and @/./+/-/_"),
        ("c" * 151, "at most 150 characters"),
    ],
)
def test_sign_up_applies_djangos_username_rules(team: Team, username: str, problem: str) -> None:
    _, token = invitation_create(project=team.project, user=team.lead, role=Role.ANNOTATOR)
    with pytest.raises(InvalidInput, match=f"User name: .*{re.escape(problem)}") as refused:
        invitation_sign_up(token=token, username=username, password=STRONG)
    assert refused.value.field == "username"
    assert not User.objects.filter(username=username).exists()
    assert Invitation.objects.get().status == InvitationStatus.PENDING


def test_a_signed_in_user_accepts(team: Team) -> None:
    _, token = invitation_create(project=team.project, user=team.lead, role=Role.ANNOTATOR)
    membership = invitation_accept(token=token, user=team.outsider)
    assert membership.role == Role.ANNOTATOR
    invitation = Invitation.objects.get()
    assert invitation.status == InvitationStatus.ACCEPTED and invitation.accepted_by == team.outsider


def test_a_member_cannot_use_an_invitation_to_their_own_project(team: Team) -> None:
    _, token = invitation_create(project=team.project, user=team.lead, role=Role.LEAD)
    with pytest.raises(InvalidInput, match="already a member"):
        invitation_accept(token=token, user=team.annotator)
    assert Membership.objects.get(project=team.project, user=team.annotator).role == Role.ANNOTATOR


def test_expired_revoked_and_unknown_tokens_get_one_answer(team: Team) -> None:
    expired, old = invitation_create(project=team.project, user=team.lead, role=Role.ANNOTATOR)
    Invitation.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    revoked, gone = invitation_create(project=team.project, user=team.lead, role=Role.ANNOTATOR)
    invitation_revoke(invitation=revoked, user=team.lead)
    answers = []
    for token in (old, gone, "not-a-token", "x" * 500):
        with pytest.raises(InvalidInput) as caught:
            invitation_accept(token=token, user=team.outsider)
        answers.append(caught.value.message)
    assert answers == [NOT_VALID] * 4
    assert Invitation.objects.get(pk=expired.pk).status == InvitationStatus.EXPIRED
    assert not Membership.objects.filter(user=team.outsider).exists()


def test_revoking_is_audited_and_only_for_pending_ones(team: Team) -> None:
    invitation, token = invitation_create(project=team.project, user=team.lead, role=Role.ANNOTATOR)
    invitation_accept(token=token, user=team.outsider)
    with pytest.raises(InvalidInput, match="accepted"):
        invitation_revoke(invitation=invitation, user=team.lead)
    other, _ = invitation_create(project=team.project, user=team.lead, role=Role.ANNOTATOR)
    invitation_revoke(invitation=other, user=team.lead)
    assert AuditEvent.objects.filter(action="invitation.revoke", target_id=other.pk).count() == 1


def test_mail_is_sent_only_when_a_mail_server_is_set(team: Team, settings: Any) -> None:
    invitation, token = invitation_create(
        project=team.project, user=team.lead, role=Role.ANNOTATOR, email="ann@example.org"
    )
    settings.EMAIL_HOST = ""
    assert invitation_mail(invitation=invitation, link=f"http://testserver/invite/{token}/") is False
    settings.EMAIL_HOST = "smtp.example.org"
    assert invitation_mail(invitation=invitation, link=f"http://testserver/invite/{token}/") is True
    assert mail.outbox[-1].to == ["ann@example.org"] and token in mail.outbox[-1].body


def test_an_invited_person_who_has_not_signed_up_is_not_addable_by_name(team: Team) -> None:
    """Adding by name answers alike for unknown names, strangers and pending invitees."""
    invitation_create(project=team.project, user=team.lead, role=Role.ANNOTATOR, email="zoe@example.org")
    answers = []
    for name in ("zoe", "zoe@example.org", team.outsider.username):
        with pytest.raises(InvalidInput) as caught:
            membership_set(project=team.project, user=team.lead, username=name, role=Role.ANNOTATOR)
        answers.append(caught.value.message.replace(repr(name), "NAME"))
    assert len(set(answers)) == 1


def test_addable_users_are_people_sharing_a_project_with_the_lead(team: Team) -> None:
    colleague = UserFactory.create()
    sharing_a_project(team.lead, colleague)
    found = set(addable_users(team.lead))
    assert colleague in found and team.outsider not in found
    assert team.outsider in set(addable_users(team.staff))


class TestResetLinks:
    def test_a_lead_resets_an_annotator_and_the_link_works_once(self, team: Team) -> None:
        _uid, token = password_reset_link(
            project=team.project, user=team.lead, username=team.annotator.username
        )
        assert default_token_generator.check_token(team.annotator, token)
        team.annotator.set_password(STRONG)
        team.annotator.save()
        assert not default_token_generator.check_token(team.annotator, token)
        assert AuditEvent.objects.filter(action="password.reset_link", target_id=team.annotator.pk).exists()

    @pytest.mark.parametrize("who", ["lead_elsewhere", "staff_member", "other_lead", "outsider"])
    def test_a_lead_may_not_take_over_more_powerful_accounts(self, team: Team, who: str) -> None:
        target = {
            "outsider": team.outsider,
            "staff_member": MembershipFactory.create(project=team.project, user__is_staff=True).user,
            "other_lead": MembershipFactory.create(project=team.project, role=Role.LEAD).user,
            "lead_elsewhere": _leading_elsewhere(team),
        }[who]
        with pytest.raises(InvalidInput, match="cannot be given a reset link"):
            password_reset_link(project=team.project, user=team.lead, username=target.username)
        assert not AuditEvent.objects.filter(action="password.reset_link").exists()

    def test_staff_may_reset_a_lead_but_not_a_superuser(self, team: Team) -> None:
        password_reset_link(project=team.project, user=team.staff, username=team.lead.username)
        root = MembershipFactory.create(
            project=team.project, user__is_staff=True, user__is_superuser=True
        ).user
        with pytest.raises(InvalidInput):
            password_reset_link(project=team.project, user=team.staff, username=root.username)

    def test_no_one_issues_a_reset_link_for_themselves(self, team: Team) -> None:
        MembershipFactory.create(project=team.project, user=team.staff, role=Role.ANNOTATOR)
        for user in (team.staff, team.lead):
            with pytest.raises(InvalidInput, match="for yourself"):
                password_reset_link(project=team.project, user=user, username=user.username)
        assert not AuditEvent.objects.filter(action="password.reset_link").exists()


def _leading_elsewhere(team: Team) -> User:
    user = MembershipFactory.create(project=team.project, role=Role.ANNOTATOR).user
    MembershipFactory.create(user=user, role=Role.LEAD)
    return user
