from __future__ import annotations

from django.conf import settings
from django.db import models

from curation.models.examples import Example
from curation.models.jobs import JobStatus, QualityJob
from curation.models.projects import Project


class DedupMethod(models.TextChoices):
    EXACT = "exact", "Exact (normalized text)"
    MINHASH = "minhash", "MinHash (near-identical wording)"
    EMBEDDING = "embedding", "Embedding (same meaning)"


class DedupFields(models.TextChoices):
    INPUT = "input", "Input only"
    INPUT_OUTPUT = "input_output", "Input and output"


class Shingle(models.TextChoices):
    AUTO = "auto", "Chosen from the texts' lengths"
    CHAR = "char", "Character n-grams"
    WORD = "word", "Word n-grams"


class DedupJob(QualityJob):
    """Finds clusters of duplicates in a project and marks all but one member of each."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="dedup_jobs")
    method = models.CharField(max_length=20, choices=DedupMethod.choices)
    fields = models.CharField(max_length=20, choices=DedupFields.choices, default=DedupFields.INPUT)
    threshold = models.FloatField(null=True, blank=True)
    num_perm = models.PositiveIntegerField(default=128)
    shingle = models.CharField(max_length=10, choices=Shingle.choices, default=Shingle.AUTO)
    ngram = models.PositiveIntegerField(default=0, help_text="0: chosen from the texts' lengths.")
    chunk_bounds = models.JSONField(default=list, blank=True, help_text="[first id, last id] per chunk.")
    chunks_done = models.JSONField(default=list, blank=True)
    examples_checked = models.PositiveIntegerField(default=0)
    clusters = models.PositiveIntegerField(default=0)
    duplicates_marked = models.PositiveIntegerField(default=0)
    flags_raised = models.PositiveIntegerField(
        default=0, help_text="Contradiction flags: inputs alike under different labels (input-only jobs)."
    )

    class Meta(QualityJob.Meta):
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=JobStatus.values), name="dedupjob_status_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(method__in=DedupMethod.values), name="dedupjob_method_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.method} dedup job {self.pk} ({self.status})"


class ClusterStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    DISSOLVED = "dissolved", "Dissolved"


class DuplicateCluster(models.Model):
    """A group of duplicates: `kept` stays, the other members point to it with duplicate_of."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="duplicate_clusters")
    job = models.ForeignKey(DedupJob, on_delete=models.CASCADE, related_name="found_clusters")
    kept = models.ForeignKey(Example, on_delete=models.CASCADE, related_name="kept_in_clusters")
    status = models.CharField(max_length=20, choices=ClusterStatus.choices, default=ClusterStatus.ACTIVE)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    changed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["project", "status"], name="cluster_project_status")]

    def __str__(self) -> str:
        return f"Cluster {self.pk} ({self.status})"


class ClusterMember(models.Model):
    cluster = models.ForeignKey(DuplicateCluster, on_delete=models.CASCADE, related_name="members")
    example = models.ForeignKey(Example, on_delete=models.CASCADE, related_name="cluster_memberships")
    similarity = models.FloatField(help_text="To the kept example, by the job's method.")
    # A later job may add members to a cluster an earlier one made (with its own method), so each
    # member records its job to be explained by the right rule. Null: the cluster's job (rows
    # from before this field).
    job = models.ForeignKey(
        DedupJob,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="added_members",
        help_text="The job that added this member; empty means the cluster's job.",
    )

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["cluster", "example"], name="cluster_member_unique"),
        ]

    def __str__(self) -> str:
        return f"example {self.example_id} in cluster {self.cluster_id}"


class ContradictionJob(QualityJob):
    """Finds pairs whose inputs are (near-)identical and whose outputs disagree; flags them."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="contradiction_jobs")
    method = models.CharField(max_length=20, choices=DedupMethod.choices, default=DedupMethod.MINHASH)
    threshold = models.FloatField(default=0.9, help_text="How similar two inputs must be.")
    examples_checked = models.PositiveIntegerField(default=0)
    groups_checked = models.PositiveIntegerField(default=0)
    flags_raised = models.PositiveIntegerField(default=0)

    class Meta(QualityJob.Meta):
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=JobStatus.values), name="contradictionjob_status_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"Contradiction job {self.pk} ({self.status})"


class CachedEmbedding(models.Model):
    """An embedding of one text by one model, so re-runs only embed what is new or changed."""

    model = models.CharField(max_length=200)
    text_hash = models.CharField(max_length=64, help_text="sha256 of the embedded text.")
    vector = models.BinaryField(help_text="float32 values, unit length (float16 for the int8 copy).")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["model", "text_hash"], name="embedding_unique_text"),
        ]

    def __str__(self) -> str:
        return f"{self.model}:{self.text_hash[:12]}"


class EmbeddingShare(models.Model):
    """Texts a dedup job's merge wants embedded into the cache, which any worker may take
    (curation.services.embedding_shares): `claimed_at` set by whoever took them, `done` once
    their embeddings are stored. The merge deletes its shares when it has read them back."""

    job = models.ForeignKey(DedupJob, on_delete=models.CASCADE, related_name="embedding_shares")
    fast = models.BooleanField(help_text="Embedded by the model's int8 copy rather than the model itself.")
    texts = models.JSONField()
    claimed_at = models.DateTimeField(null=True, blank=True)
    done = models.BooleanField(default=False)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"embedding share {self.pk} of job {self.job_id}"
