"""Frozen dataset versions: what training may use, copied out of the live examples.

Once a version is frozen the database itself refuses to change it or its items (triggers,
migration 0009); the application never tries.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from curation.models.projects import Project


class VersionStatus(models.TextChoices):
    FREEZING = "freezing", "Freezing"
    FROZEN = "frozen", "Frozen"
    FAILED = "failed", "Failed"


class Split(models.TextChoices):
    TRAIN = "train", "Train"
    EVAL = "eval", "Eval"


class DatasetVersion(models.Model):
    # PROTECT: a project with versions is not deleted by accident (frozen ones cannot be anyway).
    project = models.ForeignKey(Project, on_delete=models.PROTECT, related_name="versions")
    number = models.PositiveIntegerField(help_text="1, 2, ... within the project.")
    name = models.CharField(max_length=200, blank=True)
    note = models.TextField(blank=True)
    status = models.CharField(max_length=20, choices=VersionStatus.choices, default=VersionStatus.FREEZING)
    progress = models.FloatField(default=0.0)
    error = models.TextField(blank=True)
    eval_fraction = models.FloatField()
    seed = models.BigIntegerField(default=0)
    block_on_leakage = models.BooleanField(default=False)
    sha256 = models.CharField(max_length=64, blank=True, help_text="Of the canonical export.")
    counts = models.JSONField(default=dict, blank=True, help_text='{"train": n, "eval": n}')
    leakage = models.JSONField(default=dict, blank=True)
    stats = models.JSONField(default=dict, blank=True, help_text="The data card's figures.")
    manifest = models.JSONField(default=dict, blank=True, help_text="Parameters, rules, exclusions, hashes.")
    guidelines = models.TextField(blank=True, help_text="The project's guidelines when it was frozen.")
    guidelines_revision = models.PositiveIntegerField(default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    frozen_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["project", "number"], name="version_unique_number"),
            models.CheckConstraint(
                condition=models.Q(status__in=VersionStatus.values), name="version_status_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(eval_fraction__gte=0) & models.Q(eval_fraction__lt=1),
                name="version_eval_fraction_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.project} v{self.number} ({self.status})"

    @property
    def custom_name(self) -> str:
        """The name the lead gave, or "" for the default "v{number}", which titles need not repeat."""
        return "" if self.name == f"v{self.number}" else self.name

    @property
    def is_frozen(self) -> bool:
        return self.status == VersionStatus.FROZEN

    @property
    def is_finished(self) -> bool:
        return self.status != VersionStatus.FREEZING


class VersionItem(models.Model):
    """One example as it was frozen: a copy of its content, so later edits change nothing here."""

    # No database constraint: PostgreSQL checks a deferred foreign key row by row at commit,
    # seconds for a million-item freeze. Only a freeze writes items, for the version it holds,
    # and the triggers guard them once frozen; Django still cascades a failed version's delete.
    version = models.ForeignKey(
        DatasetVersion, on_delete=models.CASCADE, related_name="items", db_index=False, db_constraint=False
    )
    # The live example it was copied from: no foreign key, since the example may change or go.
    example_id = models.BigIntegerField()
    split = models.CharField(max_length=10, choices=Split.choices)
    input = models.TextField()
    output = models.TextField()
    metadata = models.JSONField(default=dict, blank=True)
    external_id = models.CharField(max_length=255, null=True, blank=True)
    source = models.CharField(max_length=200, default="")
    content_hash = models.CharField(max_length=64)

    class Meta:
        ordering = ["split", "example_id"]
        # The unique (version, example_id) index also serves the export order: one index to
        # maintain while a million items are copied in.
        constraints = [
            models.UniqueConstraint(fields=["version", "example_id"], name="version_item_unique_example"),
            models.CheckConstraint(
                condition=models.Q(split__in=Split.values), name="version_item_split_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"v{self.version_id} {self.split}: example {self.example_id}"
