"""Invitations: a lead makes a single-use, expiring link for a role; whoever opens it signs up
(or signs in) and joins the project. Only a hash of the link's token is stored."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model, password_validation
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from curation.errors import InvalidInput
from curation.models import Invitation, InvitationStatus, Membership, Project, Role
from curation.services.audit import audit
from curation.services.content import refuse_nul

# One answer for a token that never existed, was used, revoked or has expired: the page tells a
# guesser nothing about which tokens exist.
NOT_VALID = "This invitation link is not valid: it may have been used, revoked or have expired."


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@transaction.atomic
def invitation_create(
    *, project: Project, user: User | None, role: str, email: str = ""
) -> tuple[Invitation, str]:
    """Make an invitation; returns it and its token (shown once, never stored). Raises InvalidInput."""
    if role not in Role.values:
        raise InvalidInput(f"Unknown role {role!r}; use one of {', '.join(Role.values)}.", field="role")
    token = secrets.token_urlsafe(32)
    invitation = Invitation.objects.create(
        project=project,
        role=role,
        token_hash=token_hash(token),
        email=email.strip(),
        created_by=user,
        expires_at=timezone.now() + timedelta(days=settings.FINCH_INVITATION_DAYS),
    )
    audit(
        project=project,
        actor=user,
        action="invitation.create",
        target=invitation,
        summary=f"Invited a new {role} (invitation {invitation.pk}, expires {invitation.expires_at:%Y-%m-%d})",
    )
    return invitation, token


def invitation_mail(*, invitation: Invitation, link: str) -> bool:
    """Mail the link to the invitation's address when a mail server is set (EMAIL_HOST); True if sent."""
    if not (settings.EMAIL_HOST and invitation.email):
        return False
    body = (
        f"You are invited to join the Finch project {invitation.project.name} as {invitation.role}.\n\n"
        f"Open this link to sign up or sign in (it works once, until {invitation.expires_at:%Y-%m-%d}):\n{link}\n"
    )
    sent = send_mail(
        f"Invitation to {invitation.project.name}", body, None, [invitation.email], fail_silently=True
    )
    return bool(sent)


@transaction.atomic
def invitation_revoke(*, invitation: Invitation, user: User | None) -> Invitation:
    """Revoke a pending invitation. Raises InvalidInput when it is no longer pending."""
    invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
    if invitation.status != InvitationStatus.PENDING:
        raise InvalidInput(f"This invitation is {invitation.status}; only pending ones can be revoked.")
    invitation.revoked_at = timezone.now()
    invitation.save(update_fields=["revoked_at"])
    audit(
        project=invitation.project_id,
        actor=user,
        action="invitation.revoke",
        target=invitation,
        summary=f"Revoked invitation {invitation.pk} ({invitation.role})",
    )
    return invitation


def invitation_for_token(token: str) -> Invitation:
    """The pending invitation of a token (to show what it invites to). Raises InvalidInput."""
    return _pending(Invitation.objects.select_related("project"), token)


@transaction.atomic
def invitation_accept(*, token: str, user: User) -> Membership:
    """A signed-in user takes up an invitation and joins its project. Raises InvalidInput."""
    invitation = _pending(Invitation.objects.select_for_update(), token)
    if Membership.objects.filter(project_id=invitation.project_id, user=user).exists():
        raise InvalidInput("You are already a member of this project; the invitation stays unused.")
    membership = Membership.objects.create(project_id=invitation.project_id, user=user, role=invitation.role)
    invitation.accepted_by, invitation.accepted_at = user, timezone.now()
    invitation.save(update_fields=["accepted_by", "accepted_at"])
    audit(
        project=invitation.project_id,
        actor=user,
        action="invitation.accept",
        target=user,
        summary=f"{user.username} joined as {invitation.role} (invitation {invitation.pk})",
        changes={"role": (None, invitation.role)},
    )
    return membership


@transaction.atomic
def invitation_sign_up(*, token: str, username: str, password: str) -> tuple[User, Membership]:
    """Create an account through an invitation and join its project (no open registration).

    Raises InvalidInput for a bad token, a taken, empty or malformed name (Django's username
    rules), or a password the validators refuse.
    """
    _pending(Invitation.objects.select_for_update(), token)
    refuse_nul(username, "username")
    username = username.strip()
    users = get_user_model()
    if username:
        _check_username(users, username)
    if not username or users.objects.filter(username__iexact=username).exists():
        raise InvalidInput("Choose another user name.", field="username")
    candidate = users(username=username)
    try:
        password_validation.validate_password(password, candidate)
    except ValidationError as exc:
        raise InvalidInput(" ".join(exc.messages), field="password") from exc
    user = users.objects.create_user(username=username, password=password)
    return user, invitation_accept(token=token, user=user)


def _check_username(users: type[User], username: str) -> None:
    """The user model's own rules (its username_validator and max_length). create_user does not
    run them, so without this a name like "carol x/../<b>" was stored, one the admin's user form
    then refuses, and PostgreSQL answered an over-long one with a server error."""
    try:
        users._meta.get_field("username").run_validators(username)
    except ValidationError as exc:
        raise InvalidInput(f"User name: {' '.join(exc.messages)}", field="username") from exc


def _pending(invitations: QuerySet[Invitation], token: str) -> Invitation:
    if not isinstance(token, str) or not token or len(token) > 100:
        raise InvalidInput(NOT_VALID, field="token")
    invitation = invitations.filter(token_hash=token_hash(token)).first()
    if invitation is None or invitation.status != InvitationStatus.PENDING:
        raise InvalidInput(NOT_VALID, field="token")
    return invitation
