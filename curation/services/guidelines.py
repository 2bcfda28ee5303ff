"""A project's annotation guidelines: their revisions (kept whole, next to the settings' audit
events) and which revision each member last read."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import F, QuerySet

from curation.errors import InvalidInput
from curation.models import GuidelinesRead, GuidelinesRevision, Project
from curation.services.content import refuse_nul

MAX_GUIDELINES_CHARS = 100_000


def checked_guidelines(text: object) -> str:
    """The guidelines as stored; InvalidInput names text that is not a string, too long or unstorable."""
    if not isinstance(text, str):
        raise InvalidInput("guidelines must be a string (Markdown).", field="guidelines")
    if len(text) > MAX_GUIDELINES_CHARS:
        raise InvalidInput(
            f"guidelines must be at most {MAX_GUIDELINES_CHARS} characters.", field="guidelines"
        )
    return refuse_nul(text.replace("\r\n", "\n"), "guidelines")


def guidelines_record(*, project: Project, user: User | None) -> GuidelinesRevision:
    """Keep the project's current guidelines as a new revision (the caller has just saved them)."""
    Project.objects.filter(pk=project.pk).update(guidelines_revision=F("guidelines_revision") + 1)
    project.refresh_from_db(fields=["guidelines_revision"])
    return GuidelinesRevision.objects.create(
        project=project, number=project.guidelines_revision, text=project.guidelines, created_by=user
    )


@transaction.atomic
def guidelines_mark_read(*, project: Project, user: User) -> None:
    """Remember that the user has read the project's current guidelines."""
    GuidelinesRead.objects.update_or_create(
        project=project, user=user, defaults={"revision": project.guidelines_revision}
    )


def guidelines_unread(*, project: Project, user: User) -> str:
    """What the user has not read of the project's guidelines: "new" (never opened them),
    "updated" (changed since they last did), or "" (read, or none)."""
    if not project.guidelines_revision:
        return ""
    read = (
        GuidelinesRead.objects.filter(project=project, user=user).values_list("revision", flat=True).first()
    )
    if read is None:
        return "new"
    return "updated" if read < project.guidelines_revision else ""


def guidelines_history(*, project: Project) -> QuerySet[GuidelinesRevision]:
    """The project's guidelines revisions, newest first."""
    return project.guidelines_revisions.select_related("created_by").order_by("-number")
