from __future__ import annotations

from typing import TYPE_CHECKING

from django.conf import settings
from django.db import models

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser, User


class TaskType(models.TextChoices):
    CLASSIFICATION = "classification", "Classification (output is one of the labels)"
    EXTRACTION = "extraction", "Extraction (output is JSON valid against a schema)"
    GENERATION = "generation", "Generation (free text)"
    CHAT = "chat", "Chat (input is a list of messages)"


class Role(models.TextChoices):
    ANNOTATOR = "annotator", "Annotator"
    REVIEWER = "reviewer", "Reviewer"
    LEAD = "lead", "Lead"


# Each role may do everything the roles below it may.
ROLE_RANK = {Role.ANNOTATOR: 1, Role.REVIEWER: 2, Role.LEAD: 3}


class LabelingOrder(models.TextChoices):
    ARRIVAL = "arrival", "In the order they were queued"
    UNCERTAINTY = "uncertainty", "Least confident model suggestion first"
    NOVELTY = "novelty", "Farthest from the latest version's training inputs first"


class LabelingFill(models.TextChoices):
    """How the queue fills an overlap above 1: which inputs' slots it hands out first."""

    DEPTH = (
        "depth",
        "Finish started inputs first: an input gets all its annotations before new ones are started",
    )
    BREADTH = "breadth", "Every input gets a first annotation before any gets a second"


class ProjectQuerySet(models.QuerySet["Project"]):
    def for_user(self, user: User | AnonymousUser) -> ProjectQuerySet:
        """Projects the user may see: all for staff, else those they are a member of."""
        if not user.is_authenticated:
            return self.none()
        if user.is_staff:
            return self.all()
        return self.filter(memberships__user=user)


def default_filler_words() -> list[str]:
    """English, the language of most projects; settings offer the other languages' lists."""
    from curation.dedup.short_texts import FILLER_DEFAULTS

    return list(FILLER_DEFAULTS["en"])


class Project(models.Model):
    name = models.CharField(max_length=200)
    task_type = models.CharField(max_length=20, choices=TaskType.choices)
    target_behavior = models.TextField(help_text="The one behavior the fine-tune should teach.")
    system_prompt = models.TextField(blank=True)
    labels = models.JSONField(default=list, blank=True)
    output_schema = models.JSONField(null=True, blank=True)
    min_gain = models.FloatField(
        default=0.0,
        help_text="An evaluation ships a tuned model only when the 95% interval of its gain is above this.",
    )
    reviewers_may_not_review_own = models.BooleanField(
        default=True,
        help_text="Separation of duties: a reviewer may not approve or reject an example they wrote or "
        "last edited (leads may, and the audit log marks it a self-review).",
    )
    guidelines = models.TextField(
        blank=True, help_text="Annotation guidelines (Markdown), with examples of good and bad outputs."
    )
    guidelines_revision = models.PositiveIntegerField(
        default=0, help_text="Counts the guidelines' changes; 0 while there are none."
    )
    labeling_overlap = models.PositiveSmallIntegerField(
        default=1,
        help_text="How many independent annotations each input of the labeling queue gets (1 to 5).",
    )
    labeling_overlap_share = models.FloatField(
        default=1.0,
        help_text="The share of queued inputs that get the overlap (a seeded sample); the rest get one "
        "annotation. 1 gives every input the overlap.",
    )
    labeling_sample_seed = models.PositiveIntegerField(
        default=0, help_text="Seed of the overlap sample: the same seed picks the same inputs."
    )
    labeling_order = models.CharField(
        max_length=20,
        choices=LabelingOrder.choices,
        default=LabelingOrder.ARRIVAL,
        help_text="Among the queued inputs equally covered, which come first.",
    )
    labeling_fill = models.CharField(
        max_length=20,
        choices=LabelingFill.choices,
        default=LabelingFill.DEPTH,
        db_default=LabelingFill.DEPTH,
        help_text="How the queue fills the overlap: the most-covered inputs first (depth: an input "
        "becomes an example as soon as it can) or the least-covered first (breadth).",
    )
    suggestion_blind_share = models.FloatField(
        default=0.0,
        help_text="The share of queued inputs (a seeded sample) whose model suggestion an annotator "
        "sees only after answering: how often the model is right, measured without its influence.",
    )
    filler_words = models.JSONField(
        default=default_filler_words,
        blank=True,
        help_text="Words and phrases people add to a request without changing it ('hi', 'please', "
        "'thanks'): stripped from the start and the end of short texts before near-duplicates and "
        "contradictions are looked for.",
    )
    currency_folds = models.BooleanField(
        default=True,
        help_text="Currency signs count as one sign when texts are compared ('extra £1 charge' is a "
        "near-duplicate of 'extra €1 charge'). Off where the output depends on the currency.",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ProjectQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(task_type__in=TaskType.values), name="project_task_type_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(labeling_overlap__gte=1, labeling_overlap__lte=5),
                name="project_labeling_overlap_range",
            ),
            models.CheckConstraint(
                condition=models.Q(labeling_overlap_share__gt=0, labeling_overlap_share__lte=1),
                name="project_labeling_share_range",
            ),
            models.CheckConstraint(
                condition=models.Q(labeling_order__in=LabelingOrder.values),
                name="project_labeling_order_valid",
            ),
            models.CheckConstraint(
                condition=models.Q(labeling_fill__in=LabelingFill.values),
                name="project_labeling_fill_valid",
            ),
            models.CheckConstraint(
                condition=models.Q(suggestion_blind_share__gte=0, suggestion_blind_share__lte=1),
                name="project_suggestion_blind_share_range",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=20, choices=Role.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["project", "user"], name="membership_unique_user"),
            models.CheckConstraint(condition=models.Q(role__in=Role.values), name="membership_role_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.user} ({self.role}) in {self.project}"


class GuidelinesRevision(models.Model):
    """One version of a project's guidelines, kept whole (the audit log clips long values)."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="guidelines_revisions")
    number = models.PositiveIntegerField()
    text = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-number"]
        constraints = [
            models.UniqueConstraint(fields=["project", "number"], name="guidelines_revision_unique_number"),
        ]

    def __str__(self) -> str:
        return f"{self.project} guidelines r{self.number}"


class GuidelinesRead(models.Model):
    """The guidelines revision a user last opened in a project ("updated since you last read")."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    revision = models.PositiveIntegerField(default=0)
    read_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "user"], name="guidelines_read_unique_user"),
        ]

    def __str__(self) -> str:
        return f"{self.user} read r{self.revision} of {self.project}"
