"""Export jobs: a project's examples (filtered like the list) or a version's split, written by a
worker into a file in storage, then downloaded from there."""

from __future__ import annotations

from django.db import models

from curation.models.jobs import Job, JobStatus
from curation.models.projects import Project
from curation.models.versions import DatasetVersion


class ExportJob(Job):
    """The file is published under `file_name` only once whole; `row_count`, `size` and `sha256`
    are written in the same final update, so a job that has them describes a complete file."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="export_jobs")
    version = models.ForeignKey(
        DatasetVersion, null=True, blank=True, on_delete=models.CASCADE, related_name="export_jobs"
    )
    split = models.CharField(max_length=10, blank=True, help_text="Of a version: train, eval or all.")
    format = models.CharField(max_length=20, default="jsonl")
    filters = models.JSONField(default=dict, blank=True, help_text="The examples list's filters.")
    annotations = models.BooleanField(
        default=False, help_text="Each labeled row also lists every annotation of its labeling item."
    )
    total = models.PositiveBigIntegerField(default=0, help_text="Rows to write, counted at the start.")
    row_count = models.PositiveBigIntegerField(null=True, blank=True)
    size = models.PositiveBigIntegerField(null=True, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    file_name = models.CharField(max_length=500, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    expired_at = models.DateTimeField(null=True, blank=True)

    class Meta(Job.Meta):
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=JobStatus.values), name="exportjob_status_valid"
            ),
        ]
        indexes = [models.Index(fields=["expires_at"], name="exportjob_expires_idx")]

    def __str__(self) -> str:
        return f"Export {self.pk} ({self.format}, {self.status})"

    @property
    def is_downloadable(self) -> bool:
        return self.status == JobStatus.SUCCEEDED and bool(self.file_name) and self.expired_at is None
