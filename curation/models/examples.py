from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.db import models

from curation.models.projects import Project, TaskType


class ExampleStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    SUBMITTED = "submitted", "Submitted"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    NEEDS_CHANGES = "needs_changes", "Needs changes"


class ReviewDecision(models.TextChoices):
    APPROVE = "approve", "Approve"
    REJECT = "reject", "Reject"
    REQUEST_CHANGES = "request_changes", "Request changes"


def decode_input(task_type: str, stored: str) -> Any:
    """Chat inputs are stored as canonical JSON text; every other input is plain text."""
    return json.loads(stored) if task_type == TaskType.CHAT else stored


class Example(models.Model):
    # The composite indexes below lead with project; a separate FK index would only slow writes.
    # No database constraint either: its check is a trigger run per inserted row, a fifth of a
    # bulk import's merge, for a project the import already holds. Finch deletes no project (the
    # admin is read-only), Django cascades a delete made in a shell, and the import's merge
    # confirms the project once per batch (curation/services/import_staging.py).
    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, related_name="examples", db_index=False, db_constraint=False
    )
    # Text for every task type; for chat, the messages as canonical JSON (see decode_input).
    input = models.TextField()
    output = models.TextField(blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    external_id = models.CharField(max_length=255, null=True, blank=True)
    content_hash = models.CharField(max_length=64)
    status = models.CharField(max_length=20, choices=ExampleStatus.choices, default=ExampleStatus.DRAFT)
    revision = models.PositiveIntegerField(default=1)
    # What produced the current revision (created, imported, edited, reviewed, flag_resolved).
    last_change = models.CharField(max_length=40, default="created")
    source = models.CharField(max_length=200, default="manual")
    # In the text search's trigram indexes (PostgreSQL; curation/search.py). A bulk import lands
    # its rows outside them, and search_backlog_index brings them in after the import.
    search_indexed = models.BooleanField(default=True, db_default=True)
    duplicate_of = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="duplicates",
        db_index=False,  # a partial index below: most examples are no duplicate
    )
    # Audit links without a database constraint: each costs a trigger per inserted row, a third
    # of a bulk import's time, and Django already sets them to NULL when a user is deleted.
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    # The labeling-queue item whose annotations this example came from (its provenance).
    labeling_item = models.ForeignKey(
        "curation.LabelingItem",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="examples",
        db_index=False,  # a partial index below: most examples were written whole
    )
    # A model suggestion this output came from or was checked against, and what people did
    # with it (accepted unchanged, edited, replaced; unseen: nobody saw it before answering).
    suggestion = models.ForeignKey(
        "curation.Suggestion",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,  # read from the suggestion's side (its item or example)
    )
    suggestion_use = models.CharField(max_length=20, blank=True, db_default="")  # imports insert in SQL
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["project", "content_hash"], name="example_unique_content"),
            models.UniqueConstraint(fields=["project", "external_id"], name="example_unique_external_id"),
            models.CheckConstraint(
                condition=models.Q(status__in=ExampleStatus.values), name="example_status_valid"
            ),
            models.CheckConstraint(condition=models.Q(revision__gte=1), name="example_revision_positive"),
            models.CheckConstraint(
                condition=~models.Q(duplicate_of=models.F("id")), name="example_not_own_duplicate"
            ),
        ]
        indexes = [
            models.Index(fields=["project", "id"], name="example_project_id"),
            models.Index(fields=["project", "status", "id"], name="example_status_queue"),
            models.Index(fields=["project", "source", "id"], name="example_source"),
            models.Index(fields=["project", "created_by", "status"], name="example_author_queue"),
            models.Index(
                fields=["duplicate_of"],
                condition=models.Q(duplicate_of__isnull=False),
                name="example_duplicate_of",
            ),
            models.Index(
                fields=["labeling_item"],
                condition=models.Q(labeling_item__isnull=False),
                name="example_labeling_item",
            ),
        ]

    def __str__(self) -> str:
        return f"Example {self.pk} ({self.status})"

    @property
    def input_value(self) -> Any:
        return decode_input(self.project.task_type, self.input)

    def as_revision(self) -> ExampleRevision:
        """The current state as an (unsaved) history entry."""
        return ExampleRevision(
            example=self,
            revision=self.revision,
            input=self.input,
            output=self.output,
            metadata=self.metadata,
            external_id=self.external_id,
            status=self.status,
            change=self.last_change,
            changed_by_id=self.updated_by_id,
            changed_at=self.updated_at,
        )


class ExampleRevision(models.Model):
    """A superseded revision of an example, kept when a change replaced it.

    The example row itself is always the latest revision, so creating or importing an example
    writes no history; each later change keeps what it replaced here.
    """

    example = models.ForeignKey(Example, on_delete=models.CASCADE, related_name="revisions")
    revision = models.PositiveIntegerField()
    input = models.TextField()
    output = models.TextField(blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    external_id = models.CharField(max_length=255, null=True, blank=True)
    status = models.CharField(max_length=20, choices=ExampleStatus.choices)
    change = models.CharField(max_length=40)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    changed_at = models.DateTimeField()

    class Meta:
        ordering = ["-revision"]
        constraints = [
            models.UniqueConstraint(fields=["example", "revision"], name="revision_unique_number"),
        ]

    def __str__(self) -> str:
        return f"Example {self.example_id} r{self.revision}"


class Review(models.Model):
    example = models.ForeignKey(Example, on_delete=models.CASCADE, related_name="reviews")
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    decision = models.CharField(max_length=20, choices=ReviewDecision.choices)
    comment = models.TextField(blank=True)
    # The example's revision the reviewer saw, so a decision is tied to the content it judged.
    revision = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["example", "id"], name="review_example")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(decision__in=ReviewDecision.values),
                name="review_decision_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.decision} on example {self.example_id}"
