from __future__ import annotations

from django.conf import settings
from django.db import models

from curation.models.examples import Example
from curation.models.projects import Project


class FlagKind(models.TextChoices):
    CONTRADICTION = "contradiction", "Contradiction"
    DUPLICATE = "duplicate", "Duplicate"
    QUALITY = "quality", "Quality"
    PII = "pii", "Personal data"
    FORMAT = "format", "Format"
    # Annotators of one labeling-queue input gave different answers (each answer an example).
    DISAGREEMENT = "disagreement", "Disagreement"


class FlagStatus(models.TextChoices):
    OPEN = "open", "Open"
    RESOLVED = "resolved", "Resolved"
    DISMISSED = "dismissed", "Dismissed"


class FlagResolution(models.TextChoices):
    KEEP_FIRST = "keep_first", "Keep the first, reject the second"
    KEEP_SECOND = "keep_second", "Keep the second, reject the first"
    KEEP_BOTH = "keep_both", "Keep both"
    EDITED = "edited", "Edited to agree"
    DISMISS = "dismiss", "Dismiss"
    # Disagreement flags: keep one answer (optionally edited), reject the others; or drop them all.
    KEEP_ONE = "keep_one", "Keep one answer, reject the others"
    REJECT_ALL = "reject_all", "Reject every answer (drop the input)"


class RaisedBy(models.TextChoices):
    USER = "user", "A user"
    JOB = "job", "A job"


class Flag(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="flags")
    kind = models.CharField(max_length=20, choices=FlagKind.choices)
    note = models.TextField(blank=True)
    status = models.CharField(max_length=20, choices=FlagStatus.choices, default=FlagStatus.OPEN)
    raised_by = models.CharField(max_length=10, choices=RaisedBy.choices, default=RaisedBy.USER)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    job = models.CharField(max_length=100, blank=True, help_text="The job that raised it.")
    examples: models.ManyToManyField[Example, FlagExample] = models.ManyToManyField(
        Example, through="FlagExample", related_name="flags"
    )
    # sha256 of the sorted example ids: one open flag of a kind per set of examples.
    examples_key = models.CharField(max_length=64)
    resolution = models.CharField(max_length=20, choices=FlagResolution.choices, blank=True)
    resolution_note = models.TextField(blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "kind", "examples_key"],
                condition=models.Q(status="open"),
                name="flag_unique_open",
            ),
            models.CheckConstraint(condition=models.Q(kind__in=FlagKind.values), name="flag_kind_valid"),
            models.CheckConstraint(
                condition=models.Q(status__in=FlagStatus.values), name="flag_status_valid"
            ),
        ]
        indexes = [models.Index(fields=["project", "status", "kind"], name="flag_queue")]

    def __str__(self) -> str:
        return f"{self.kind} flag {self.pk} ({self.status})"


class FlagExample(models.Model):
    flag = models.ForeignKey(Flag, on_delete=models.CASCADE, related_name="memberships")
    example = models.ForeignKey(Example, on_delete=models.CASCADE, related_name="flag_memberships")
    position = models.PositiveSmallIntegerField()

    class Meta:
        ordering = ["position"]
        constraints = [
            models.UniqueConstraint(fields=["flag", "example"], name="flag_example_unique"),
            models.UniqueConstraint(fields=["flag", "position"], name="flag_position_unique"),
        ]

    def __str__(self) -> str:
        return f"flag {self.flag_id} #{self.position}: example {self.example_id}"
