"""Dedup jobs: find clusters of duplicates, mark all but one member of each, reversibly.

A job reads the project's examples that are not rejected, groups them by its method, and applies
the groups in one transaction at the end (a killed worker leaves no half-applied marks; the job
can simply run again). Applying respects earlier decisions:
- an example is in at most one active cluster; a group touching an active cluster only adds its
  new examples to that cluster (its kept example stays, whoever chose it);
- a group whose examples all sat in one dissolved cluster is not re-created (someone decided
  they are not duplicates);
- re-running a job on unchanged data changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from curation.dedup.embeddings import similar_groups
from curation.dedup.minhash_groups import near_duplicate_groups
from curation.dedup.normalize import exact_key, same_key_groups
from curation.errors import Conflict, InvalidInput
from curation.models import (
    ClusterMember,
    ClusterStatus,
    DedupFields,
    DedupJob,
    DedupMethod,
    DuplicateCluster,
    Example,
    ExampleStatus,
    Project,
)
from curation.services.embedding_cache import cached_vectors
from curation.services.jobs import ProgressFn

DEFAULT_THRESHOLDS = {DedupMethod.EXACT: 1.0, DedupMethod.MINHASH: 0.8, DedupMethod.EMBEDDING: 0.95}
# NUL never occurs in validated content, and normalization keeps it: input and output stay apart.
FIELD_SEPARATOR = "\x00"
BULK_BATCH = 1000
KEEP_ORDER = {ExampleStatus.APPROVED: 0, ExampleStatus.SUBMITTED: 1, ExampleStatus.DRAFT: 2}
Similarity = Callable[[int, int], float]


def dedup_job_create(
    *,
    project: Project,
    user: User,
    method: str,
    threshold: float | None = None,
    fields: str = DedupFields.INPUT,
    num_perm: int = 128,
    ngram: int = 0,
) -> DedupJob:
    """Queue a dedup job; InvalidInput names a bad parameter."""
    if method not in DedupMethod.values:
        raise InvalidInput(
            f"Unknown method {method!r}; use one of {', '.join(DedupMethod.values)}.", field="method"
        )
    if fields not in DedupFields.values:
        raise InvalidInput(f"fields must be one of {', '.join(DedupFields.values)}.", field="fields")
    threshold = DEFAULT_THRESHOLDS[DedupMethod(method)] if threshold is None else threshold
    if not 0 < threshold <= 1:
        raise InvalidInput("threshold must be above 0 and at most 1.", field="threshold")
    if not 16 <= num_perm <= 1024:
        raise InvalidInput("num_perm must be between 16 and 1024.", field="num_perm")
    if not 0 <= ngram <= 32:
        raise InvalidInput("ngram must be between 1 and 32 (0 chooses it).", field="ngram")
    from curation.tasks import dedup_examples

    job = DedupJob.objects.create(
        project=project,
        created_by=user,
        method=method,
        fields=fields,
        threshold=threshold,
        num_perm=num_perm,
        ngram=ngram,
    )
    transaction.on_commit(lambda: dedup_examples.delay(job.pk))
    return job


@dataclass(frozen=True)
class Candidate:
    id: int
    text: str
    status: str
    created_at: Any


def dedup_run(job: DedupJob, progress: ProgressFn) -> None:
    """Find the job's groups, then apply them all at once."""
    candidates = _candidates(job)
    progress(0.1, examples_checked=len(candidates))
    groups, similarity = _groups(job, [candidate.text for candidate in candidates])
    progress(0.8)
    with transaction.atomic():  # the marks and the counts that report them land together
        clusters, marked = _apply(job, candidates, groups, similarity)
        DedupJob.objects.filter(pk=job.pk).update(
            examples_checked=len(candidates), clusters=clusters, duplicates_marked=marked
        )


def _candidates(job: DedupJob) -> list[Candidate]:
    rows = (
        job.project.examples.exclude(status=ExampleStatus.REJECTED)
        .order_by("id")
        .values_list("id", "input", "output", "status", "created_at")
    )
    both = job.fields == DedupFields.INPUT_OUTPUT
    return [
        Candidate(pk, f"{text}{FIELD_SEPARATOR}{output}" if both else text, status, created_at)
        for pk, text, output, status, created_at in rows.iterator(chunk_size=5000)
    ]


def _groups(job: DedupJob, texts: list[str]) -> tuple[list[list[int]], Similarity]:
    if job.method == DedupMethod.EXACT:
        return _exact_groups(texts)
    if job.method == DedupMethod.EMBEDDING:
        return similar_groups(cached_vectors(texts), job.threshold or 0.95)
    # Shingles of the normalized text: case, punctuation and spacing never hide a near-duplicate.
    normalized = [_normalized(text) for text in texts]
    return near_duplicate_groups(
        normalized, threshold=job.threshold or 0.8, num_perm=job.num_perm, ngram=job.ngram
    )


def _normalized(text: str) -> str:
    return FIELD_SEPARATOR.join(exact_key(part) for part in text.split(FIELD_SEPARATOR))


def _exact_groups(texts: list[str]) -> tuple[list[list[int]], Similarity]:
    groups = same_key_groups(_normalized(text) for text in texts)
    return [group for group in groups if len(group) > 1], lambda a, b: 1.0


def _apply(
    job: DedupJob, candidates: list[Candidate], groups: list[list[int]], similarity: Similarity
) -> tuple[int, int]:
    """Create or extend clusters for the groups, in bulk; returns (clusters touched, marked)."""
    index_of = {candidate.id: index for index, candidate in enumerate(candidates)}
    active = _active_cluster_of(job.project)
    dissolved = [set(ids) for ids in _dissolved_member_sets(job.project)]
    created: list[tuple[DuplicateCluster, list[int]]] = []
    extended: list[tuple[DuplicateCluster, list[int]]] = []
    for group in groups:
        ids = [candidates[index].id for index in group]
        new = [pk for pk in ids if pk not in active]
        existing = [active[pk] for pk in ids if pk in active]
        if not new:
            continue
        if existing:
            extended.append((min(existing, key=lambda cluster: cluster.pk), new))
        elif not any(set(ids) <= members for members in dissolved):
            kept = min((candidates[index] for index in group), key=_keep_rank)
            created.append((DuplicateCluster(project=job.project, job=job, kept_id=kept.id), ids))
    DuplicateCluster.objects.bulk_create([cluster for cluster, _ in created])
    applied = created + extended

    def to_kept(pk: int, cluster: DuplicateCluster) -> float:
        kept = index_of.get(cluster.kept_id)
        return 1.0 if pk == cluster.kept_id else similarity(index_of[pk], kept) if kept is not None else 0.0

    ClusterMember.objects.bulk_create(
        [
            ClusterMember(cluster=cluster, example_id=pk, similarity=to_kept(pk, cluster))
            for cluster, ids in applied
            for pk in ids
        ],
        batch_size=BULK_BATCH,
    )
    marks = [
        Example(pk=pk, duplicate_of_id=cluster.kept_id)
        for cluster, ids in applied
        for pk in ids
        if pk != cluster.kept_id
    ]
    Example.objects.bulk_update(marks, ["duplicate_of"], batch_size=BULK_BATCH)
    return len(created) + len({cluster.pk for cluster, _ in extended}), len(marks)


def _keep_rank(candidate: Candidate) -> tuple[int, Any, int]:
    """Approved before submitted before draft (before anything else), then the oldest."""
    return (
        KEEP_ORDER.get(ExampleStatus(candidate.status), len(KEEP_ORDER)),
        candidate.created_at,
        candidate.id,
    )


def _active_cluster_of(project: Project) -> dict[int, DuplicateCluster]:
    members = ClusterMember.objects.filter(
        cluster__project=project, cluster__status=ClusterStatus.ACTIVE
    ).select_related("cluster")
    return {member.example_id: member.cluster for member in members}


def _dissolved_member_sets(project: Project) -> list[list[int]]:
    sets: dict[int, list[int]] = {}
    members = ClusterMember.objects.filter(cluster__project=project, cluster__status=ClusterStatus.DISSOLVED)
    for cluster_id, example_id in members.values_list("cluster_id", "example_id"):
        sets.setdefault(cluster_id, []).append(example_id)
    return list(sets.values())


@transaction.atomic
def cluster_keep(*, cluster: DuplicateCluster, user: User, example_id: int) -> DuplicateCluster:
    """Keep another member: the others, the old kept one too, become its duplicates."""
    cluster = DuplicateCluster.objects.select_for_update().get(pk=cluster.pk)
    _require_active(cluster)
    member_ids = list(cluster.members.values_list("example_id", flat=True))
    if example_id not in member_ids:
        raise InvalidInput(f"Example {example_id} is not a member of cluster {cluster.pk}.", field="example")
    Example.objects.filter(pk__in=member_ids).exclude(pk=example_id).update(duplicate_of_id=example_id)
    Example.objects.filter(pk=example_id).update(duplicate_of=None)
    cluster.kept_id = example_id
    return _decided(cluster, user)


@transaction.atomic
def cluster_dissolve(*, cluster: DuplicateCluster, user: User) -> DuplicateCluster:
    """Undo the cluster: its members are no longer duplicates, and re-runs will not re-create it."""
    cluster = DuplicateCluster.objects.select_for_update().get(pk=cluster.pk)
    _require_active(cluster)
    member_ids = list(cluster.members.values_list("example_id", flat=True))
    Example.objects.filter(pk__in=member_ids, duplicate_of_id=cluster.kept_id).update(duplicate_of=None)
    cluster.status = ClusterStatus.DISSOLVED
    return _decided(cluster, user)


def _require_active(cluster: DuplicateCluster) -> None:
    if cluster.status != ClusterStatus.ACTIVE:
        raise Conflict(f"Cluster {cluster.pk} is {cluster.status}.")


def _decided(cluster: DuplicateCluster, user: User) -> DuplicateCluster:
    cluster.changed_by = user
    cluster.changed_at = timezone.now()
    cluster.save()
    return cluster
