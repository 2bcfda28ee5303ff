from __future__ import annotations

from django.conf import settings
from django.db import models

from curation.models.projects import Project


class AuditEvent(models.Model):
    """Who changed what in a project, and when: one row per change made through Finch (an edit, a
    review, a flag raised or resolved, a cluster decided, a version frozen, a run launched...),
    written in the same transaction as the change. Nothing in Finch updates or deletes one."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="audit_events")
    # Null for the system (a job raising flags); the name outlives a deleted user.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_name = models.CharField(max_length=150, blank=True)
    action = models.CharField(max_length=60, help_text='What happened, e.g. "example.update".')
    target_type = models.CharField(max_length=40, help_text='The kind of object, e.g. "example".')
    target_id = models.BigIntegerField(null=True)
    summary = models.CharField(max_length=500)
    changes = models.JSONField(default=dict, blank=True, help_text="field -> [before, after]")
    request_id = models.CharField(max_length=128, blank=True)
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["project", "-id"], name="audit_project_newest"),
            models.Index(fields=["project", "target_type", "target_id"], name="audit_project_target"),
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor_name or 'system'}: {self.summary}"
