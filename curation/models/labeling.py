"""The labeling queue: inputs without an output, each labeled by one or more annotators.

An item collects `target_overlap` independent annotations (one assignment per annotator). When
the last one is in, the item becomes one submitted example (the answers agree), several
submitted examples in a disagreement flag (they do not), or several submitted alternatives
(generation and chat, where different answers may all be right).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from curation.models.projects import Project

MAX_OVERLAP = 5


class ItemStatus(models.TextChoices):
    QUEUED = "queued", "Waiting for annotations"
    AGREED = "agreed", "Labeled: the annotations agree"
    DISAGREED = "disagreed", "Labeled: the annotations disagree (a flag)"
    ALTERNATIVES = "alternatives", "Labeled: alternatives to review side by side"
    # Out of the queue by a lead's decision (an input nobody can label: none of the labels fit,
    # it is broken or off-topic); back in the queue by another.
    SET_ASIDE = "set_aside", "Set aside: not to be labeled"


class LabelingItem(models.Model):
    # The composite indexes below lead with project.
    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, related_name="labeling_items", db_index=False
    )
    # Stored like an example's input: text, or canonical JSON messages for chat.
    input = models.TextField()
    # content_hash(input, ""): one queued item per input per project.
    input_hash = models.CharField(max_length=64)
    metadata = models.JSONField(default=dict, blank=True)
    external_id = models.CharField(max_length=255, null=True, blank=True)
    source = models.CharField(max_length=200, default="manual")
    status = models.CharField(max_length=20, choices=ItemStatus.choices, default=ItemStatus.QUEUED)
    # How many independent annotations this item gets (the project's overlap, or 1 outside the
    # overlap sample), fixed when the item is queued or while nobody has touched it.
    target_overlap = models.PositiveSmallIntegerField(default=1)
    # Live claims plus submitted annotations: the queue hands an item out while this is below
    # target_overlap, most covered first (the project's labeling_fill depth) or least (breadth).
    coverage = models.PositiveSmallIntegerField(default=0)
    annotation_count = models.PositiveSmallIntegerField(default=0)
    # Among items equally covered, lower first (the project's labeling_order): a suggestion's
    # confidence, or the input's similarity to the latest version's training inputs; NULL (the
    # arrival order) after those that have one.
    priority = models.FloatField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    created_at = models.DateTimeField(auto_now_add=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["project", "input_hash"], name="labeling_item_unique_input"),
            models.UniqueConstraint(
                fields=["project", "external_id"], name="labeling_item_unique_external_id"
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=ItemStatus.values), name="labeling_item_status_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(target_overlap__gte=1, target_overlap__lte=MAX_OVERLAP),
                name="labeling_item_overlap_range",
            ),
            models.CheckConstraint(
                condition=models.Q(coverage__lte=models.F("target_overlap")),
                name="labeling_item_coverage_bounded",
            ),
            models.CheckConstraint(
                condition=models.Q(annotation_count__lte=models.F("coverage")),
                name="labeling_item_annotations_covered",
            ),
        ]
        indexes = [
            models.Index(fields=["project", "status", "id"], name="labeling_item_status"),
            # The queue's "next item": open slots only, least covered first (labeling_fill breadth)
            # or most covered first (depth).
            models.Index(
                fields=["project", "coverage", "priority", "id"],
                condition=models.Q(status="queued", coverage__lt=models.F("target_overlap")),
                name="labeling_item_next",
            ),
            models.Index(
                fields=["project", "-coverage", "priority", "id"],
                condition=models.Q(status="queued", coverage__lt=models.F("target_overlap")),
                name="labeling_item_next_depth",
            ),
        ]

    def __str__(self) -> str:
        return f"Labeling item {self.pk} ({self.status})"


class SuggestionUse(models.TextChoices):
    ACCEPTED = "accepted", "Accepted unchanged"
    EDITED = "edited", "Edited"
    REPLACED = "replaced", "Replaced"
    UNSEEN = "unseen", "Answered without seeing it"


# The reasons a labeling page offers for a skip, besides none.
SKIP_REASONS = ("None of the labels fit", "The input is unclear or broken", "Not sure")


class AssignmentState(models.TextChoices):
    CLAIMED = "claimed", "Claimed"
    SUBMITTED = "submitted", "Submitted"
    SKIPPED = "skipped", "Skipped"


class LabelingAssignment(models.Model):
    """One annotator's turn on one item: a claim with an expiry, then their answer or a skip."""

    # No index of their own: the unique (item, annotator) and labeling_annotator_work indexes lead
    # with them, and every index more is one more write on each claim and each answer.
    item = models.ForeignKey(
        LabelingItem, on_delete=models.CASCADE, related_name="assignments", db_index=False
    )
    annotator = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        on_delete=models.SET_NULL,
        related_name="labeling_assignments",
        db_index=False,
    )
    state = models.CharField(max_length=20, choices=AssignmentState.choices, default=AssignmentState.CLAIMED)
    # The answer in an example output's stored form (a label, JSON text, free text).
    output = models.TextField(blank=True)
    claimed_at = models.DateTimeField()
    expires_at = models.DateTimeField(null=True, blank=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    # The model suggestion the item had when answered, whether the annotator saw it before
    # answering (not in the project's blind sample), and what the answer did with it.
    suggestion = models.ForeignKey(
        "curation.Suggestion",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,  # read from the suggestion's side (its item or example)
    )
    # Database defaults: the queue's claim statement inserts rows in SQL.
    suggestion_shown = models.BooleanField(default=False, db_default=False)
    suggestion_use = models.CharField(max_length=20, choices=SuggestionUse.choices, blank=True, db_default="")
    # Why the annotator passed, when they said (SKIP_REASONS, or their own words).
    skip_reason = models.CharField(max_length=200, blank=True, db_default="")

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["item", "annotator"], name="labeling_assignment_unique_annotator"
            ),
            models.CheckConstraint(
                condition=models.Q(state__in=AssignmentState.values), name="labeling_assignment_state_valid"
            ),
        ]
        indexes = [
            models.Index(
                fields=["expires_at"], condition=models.Q(state="claimed"), name="labeling_claim_expiry"
            ),
            models.Index(fields=["annotator", "state", "item"], name="labeling_annotator_work"),
            # The queue page's skipped inputs: skips are few, so this stays small.
            models.Index(fields=["item"], condition=models.Q(state="skipped"), name="labeling_skips"),
        ]

    def __str__(self) -> str:
        return f"{self.state} assignment of item {self.item_id} to {self.annotator_id}"

    @property
    def seconds_spent(self) -> float | None:
        if self.submitted_at is None:
            return None
        return (self.submitted_at - self.claimed_at).total_seconds()
