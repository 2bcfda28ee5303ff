from __future__ import annotations

from django.conf import settings
from django.db import models

from curation.models.projects import Project
from curation.phases import in_order


class JobStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


FINISHED_STATUSES = (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED)


class Job(models.Model):
    """Long work tracked in a row: what every job kind (import, dedup, training, ...) shares."""

    status = models.CharField(max_length=20, choices=JobStatus.choices, default=JobStatus.QUEUED)
    progress = models.FloatField(default=0.0)
    error = models.TextField(blank=True)
    traceback = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True
        ordering = ["-id"]

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED_STATUSES


class QualityJob(Job):
    """A job that records where its time goes: seconds per phase of its work, summed over its
    tasks (curation/phases.py). The dedup, contradiction and validation jobs."""

    phases = models.JSONField(
        default=dict,
        blank=True,
        help_text="Seconds per phase: read, sketch, embed, candidates, verify, write.",
    )

    class Meta(Job.Meta):
        abstract = True

    @property
    def phase_seconds(self) -> list[tuple[str, float]]:
        """(phase, seconds) in the phases' order."""
        return list(in_order(self.phases or {}).items())


class ValidationJob(QualityJob):
    """Re-checks every example of a project against its current task settings."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="validation_jobs")
    checked = models.PositiveIntegerField(default=0)
    invalid = models.PositiveIntegerField(default=0)
    flags_raised = models.PositiveIntegerField(default=0)

    class Meta(QualityJob.Meta):
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=JobStatus.values), name="validationjob_status_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"Validation job {self.pk} ({self.status})"


class ImportJob(Job):
    """A bulk import of one uploaded file into a project, with its per-row report."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="import_jobs")
    file = models.FileField(upload_to="imports/%Y/%m/", max_length=500)
    filename = models.CharField(max_length=255)
    size = models.PositiveBigIntegerField(default=0)
    format = models.CharField(max_length=20, default="auto")
    detected_format = models.CharField(max_length=20, blank=True)
    input_field = models.CharField(max_length=200, blank=True)
    output_field = models.CharField(max_length=200, blank=True)
    initial_status = models.CharField(max_length=20, default="draft")
    total = models.PositiveIntegerField(default=0)
    created = models.PositiveIntegerField(default=0)
    skipped_existing = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    errors = models.JSONField(default=list, blank=True, help_text="The first 1000 row errors.")

    class Meta(Job.Meta):
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=JobStatus.values), name="importjob_status_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"Import {self.pk} of {self.filename} ({self.status})"


class JobHeartbeat(models.Model):
    """When a worker last showed that it is still running a job (any kind: `kind` is the job
    model's label, e.g. "curation.importjob").

    A table of its own rather than a column on the job: the work may hold the job's row locked
    for long (a freeze copies in one transaction), and a heartbeat must never wait on it."""

    kind = models.CharField(max_length=100)
    object_id = models.BigIntegerField()
    beat_at = models.DateTimeField()
    host = models.CharField(max_length=255, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["kind", "object_id"], name="job_heartbeat_unique")]

    def __str__(self) -> str:
        return f"{self.kind} {self.object_id} alive at {self.beat_at:%Y-%m-%d %H:%M:%S}"
