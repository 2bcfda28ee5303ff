"""Password-reset links issued by staff or a project's lead, shown to copy (no mail needed).

The token is Django's (PasswordResetTokenGenerator): it expires after PASSWORD_RESET_TIMEOUT and
stops working once the password changes, so a link works once."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.contrib.auth.tokens import default_token_generator
from django.db import transaction
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from curation.errors import InvalidInput
from curation.models import Membership, Project, Role
from curation.services.audit import audit
from curation.services.content import refuse_nul

REFUSED = (
    "{name!r} cannot be given a reset link here: a lead may reset only annotators and reviewers of "
    "this project who lead no project and are not staff."
)
OWN_PASSWORD = "You cannot issue a reset link for yourself: change your password on your account page."


@transaction.atomic
def password_reset_link(*, project: Project, user: User, username: str) -> tuple[str, str]:
    """Issue a reset link's (uidb64, token) for a member of `project`. Raises InvalidInput when
    `user` may not reset that member's password (one answer, so names cannot be probed) or
    names themselves."""
    refuse_nul(username, "username")
    if username == user.username:
        # A link for oneself would bypass the old-password check of the password change page.
        raise InvalidInput(OWN_PASSWORD, field="username")
    target = _resettable(project, user, username)
    if target is None:
        raise InvalidInput(REFUSED.format(name=username), field="username")
    audit(
        project=project,
        actor=user,
        action="password.reset_link",
        target=target,
        summary=f"Issued a password-reset link for {target.username}",
    )
    return urlsafe_base64_encode(force_bytes(target.pk)), default_token_generator.make_token(target)


def _resettable(project: Project, user: User, username: str) -> User | None:
    membership = Membership.objects.filter(project=project, user__username=username).select_related("user")
    target = membership.first()
    if target is None:
        return None
    member = target.user
    if user.is_superuser:
        return member
    if member.is_superuser or (member.is_staff and not user.is_staff):
        # Taking over an account with more rights than one's own is privilege escalation.
        return None
    if user.is_staff:
        return member
    leads_somewhere = Membership.objects.filter(user=member, role=Role.LEAD).exists()
    return None if member.is_staff or leads_somewhere else member
