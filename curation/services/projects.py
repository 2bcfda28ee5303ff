"""Writes for projects and their members."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.db import transaction

from curation.errors import ApplicationError, InvalidInput
from curation.models import Membership, Project, Role
from curation.services.content import refuse_nul, validate_project_settings

PROJECT_EDITABLE_FIELDS = ("name", "target_behavior", "system_prompt", "labels", "output_schema", "min_gain")


@transaction.atomic
def project_create(
    *,
    user: User,
    name: str,
    task_type: str,
    target_behavior: str,
    system_prompt: str = "",
    labels: list[str] | None = None,
    output_schema: dict[str, Any] | None = None,
    min_gain: float = 0.0,
) -> Project:
    """Create a project with the creator as its lead. Raises InvalidInput for bad settings."""
    clean_labels, clean_schema = validate_project_settings(task_type, labels, output_schema)
    project = Project.objects.create(
        name=_required_text(name, "name"),
        task_type=task_type,
        target_behavior=_required_text(target_behavior, "target_behavior"),
        system_prompt=system_prompt,
        labels=clean_labels,
        output_schema=clean_schema,
        min_gain=min_gain,
        created_by=user,
    )
    Membership.objects.create(project=project, user=user, role=Role.LEAD)
    return project


def project_update(*, project: Project, changes: dict[str, Any]) -> Project:
    """Change a project's settings (not its task type, which its examples depend on).

    On a refusal the instance is reloaded, so callers never hold the refused settings.
    """
    try:
        return _update(project, changes)
    except ApplicationError:
        project.refresh_from_db()
        raise


@transaction.atomic
def _update(project: Project, changes: dict[str, Any]) -> Project:
    if "task_type" in changes and changes["task_type"] != project.task_type:
        raise InvalidInput(
            "task_type cannot change: the project's examples were validated for it.",
            field="task_type",
        )
    for field in PROJECT_EDITABLE_FIELDS:
        if field in changes:
            setattr(project, field, changes[field])
    project.labels, project.output_schema = validate_project_settings(
        project.task_type, project.labels, project.output_schema
    )
    project.name = _required_text(project.name, "name")
    project.target_behavior = _required_text(project.target_behavior, "target_behavior")
    project.save()
    return project


@transaction.atomic
def membership_set(*, project: Project, username: str, role: str) -> tuple[Membership, bool]:
    """Add a member or change their role; returns (membership, created)."""
    if role not in Role.values:
        raise InvalidInput(f"Unknown role {role!r}; use one of {', '.join(Role.values)}.", field="role")
    user = get_user_model().objects.filter(username=refuse_nul(username, "username")).first()
    if user is None:
        raise InvalidInput(f"There is no user named {username!r}.", field="username")
    membership = Membership.objects.select_for_update().filter(project=project, user=user).first()
    if membership is None:
        return Membership.objects.create(project=project, user=user, role=role), True
    if membership.role == Role.LEAD and role != Role.LEAD:
        _ensure_another_lead(project, membership)
    membership.role = role
    membership.save(update_fields=["role"])
    return membership, False


@transaction.atomic
def membership_remove(*, project: Project, username: str) -> None:
    """Remove a member; the last lead cannot leave a project without a lead."""
    refuse_nul(username, "username")
    membership = Membership.objects.filter(project=project, user__username=username).first()
    if membership is None:
        raise InvalidInput(f"{username!r} is not a member of this project.", field="username")
    if membership.role == Role.LEAD:
        _ensure_another_lead(project, membership)
    membership.delete()


def _ensure_another_lead(project: Project, membership: Membership) -> None:
    others = Membership.objects.filter(project=project, role=Role.LEAD).exclude(pk=membership.pk)
    if not others.exists():
        raise InvalidInput("A project must keep at least one lead.", field="role")


def _required_text(value: str, field: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"{field} must not be empty.", field=field)
    return value.strip()
