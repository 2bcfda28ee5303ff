"""Row locks that order work on one project across processes."""

from __future__ import annotations

from curation.models import Project


def project_lock(project_id: int) -> None:
    """Lock the project's row until the current transaction ends: writers that take it take
    turns (one freeze or dedup apply at a time, member changes, upload quota checks)."""
    Project.objects.select_for_update().filter(pk=project_id).values_list("pk").first()
