"""Model suggestions: what a base model or a shipped adapter proposes as the output of a queued
input (or of a draft without output), made by a suggestion run (evaluation.SuggestionRun)."""

from __future__ import annotations

from django.db import models

from curation.models.examples import Example
from curation.models.labeling import LabelingItem
from curation.models.projects import Project


class Suggestion(models.Model):
    run = models.ForeignKey("evaluation.SuggestionRun", on_delete=models.CASCADE, related_name="suggestions")
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+", db_index=False)
    # What it is for: a queued input, or a draft example without output.
    item = models.ForeignKey(
        LabelingItem, null=True, blank=True, on_delete=models.CASCADE, related_name="suggestions"
    )
    example = models.ForeignKey(
        Example, null=True, blank=True, on_delete=models.CASCADE, related_name="suggestions"
    )
    # In an example output's stored form: a label, canonical JSON, or text.
    output = models.TextField()
    raw = models.TextField(
        blank=True, help_text="The model's answer as generated (empty for a scored label)."
    )
    # Whether an annotator can keep it as it is: a label of the set, JSON valid against the
    # schema, text that is not empty.
    valid = models.BooleanField(default=True)
    # Classification: the probability of the label over the label set. Other task types: the
    # answer's mean token log-probability (at most 0).
    confidence = models.FloatField()
    # Classification: the most probable labels with their probabilities, most probable first.
    alternatives = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(item__isnull=False, example__isnull=True)
                | models.Q(item__isnull=True, example__isnull=False),
                name="suggestion_for_one_thing",
            ),
            models.UniqueConstraint(fields=["run", "item"], name="suggestion_unique_item"),
            models.UniqueConstraint(fields=["run", "example"], name="suggestion_unique_example"),
        ]
        indexes = [models.Index(fields=["project", "run"], name="suggestion_project_run")]

    def __str__(self) -> str:
        return f"suggestion {self.pk} of run {self.run_id}"
