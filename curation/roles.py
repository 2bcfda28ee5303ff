"""Who may do what in a project: roles rank annotator < reviewer < lead; staff may do all."""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser, User

from curation.errors import NotFound, PermissionDenied
from curation.models import ROLE_RANK, Membership, Project, Role

AnyUser = User | AnonymousUser


def role_of(user: AnyUser, project: Project) -> str | None:
    """The user's role in the project; staff count as leads everywhere."""
    if not user.is_authenticated:
        return None
    if user.is_staff:
        return Role.LEAD
    membership = Membership.objects.filter(project=project, user=user).only("role").first()
    return membership.role if membership else None


def has_role(role: str | None, minimum: str) -> bool:
    return role is not None and ROLE_RANK[Role(role)] >= ROLE_RANK[Role(minimum)]


def require_role(user: AnyUser, project: Project, minimum: str) -> str:
    """Raise NotFound for a non-member (so ids leak nothing) and PermissionDenied below minimum."""
    role = role_of(user, project)
    if role is None:
        raise NotFound("No such project.")
    if not has_role(role, minimum):
        raise PermissionDenied(f"This needs the {minimum} role in the project; you are {role}.")
    return role
