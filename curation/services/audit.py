"""The audit log: one place that records who changed what (services call `audit`), and reads it.

Services call `audit` inside the transaction of the change they make, so a change that rolls
back leaves no event and an event always describes a change that happened."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.contrib.auth.models import User
from django.db import models
from django.db.models import QuerySet

from config.observability import bound_value
from curation import filters as query
from curation.models import AuditEvent, Project

SUMMARY_CHARS = 500
VALUE_CHARS = 2_000  # a changed field's before and after are kept up to this many characters


def audit(
    *,
    project: Project | int,
    actor: User | None,
    action: str,
    target: models.Model | None,
    summary: str,
    changes: Mapping[str, tuple[Any, Any]] | None = None,
) -> AuditEvent:
    """Record that `actor` (None: Finch itself) did `action` to `target` in `project`."""
    project_id = project if isinstance(project, int) else project.pk
    return AuditEvent.objects.create(
        project_id=project_id,
        actor=actor,
        actor_name=actor.username if actor is not None else "",
        action=action,
        target_type=target._meta.model_name or "" if target is not None else "",
        target_id=target.pk if target is not None else None,
        summary=summary[:SUMMARY_CHARS],
        changes={
            field: [_clipped(before), _clipped(after)] for field, (before, after) in (changes or {}).items()
        },
        request_id=bound_value("request_id") or "",
    )


def changed(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, tuple[Any, Any]]:
    """The fields whose value differs, as field -> (before, after)."""
    return {field: (before.get(field), value) for field, value in after.items() if before.get(field) != value}


def _clipped(value: Any) -> Any:
    if isinstance(value, str) and len(value) > VALUE_CHARS:
        return value[:VALUE_CHARS] + "…"
    return value


FILTERS = ("actor", "action", "target_type", "target_id")


def audit_events(project: Project, filters: Mapping[str, str]) -> QuerySet[AuditEvent]:
    """The project's events, newest first, narrowed by actor (a username), action (exact, or a
    prefix ending in "."), target_type and target_id. InvalidInput names a bad filter."""
    events = AuditEvent.objects.filter(project=project)
    if actor := query.text(filters.get("actor"), "actor").strip():
        events = events.filter(actor_name=actor)
    if action := query.text(filters.get("action"), "action").strip():
        events = (
            events.filter(action__startswith=action) if action.endswith(".") else events.filter(action=action)
        )
    if target_type := query.text(filters.get("target_type"), "target_type").strip():
        events = events.filter(target_type=target_type)
    target_id = query.whole_number(filters.get("target_id"), "target_id")
    if target_id is not None:
        events = events.filter(target_id=target_id)
    return events.order_by("-id")
