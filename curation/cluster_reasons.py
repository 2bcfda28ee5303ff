"""Why a dedup job put each member of a cluster with its kept example, in a sentence a reviewer
can check at a glance (the Duplicates page and the clusters API show it)."""

from __future__ import annotations

from collections.abc import Iterable

from curation.dedup.short_texts import Folding, explain
from curation.models import (
    ClusterMember,
    DedupFields,
    DedupJob,
    DedupMethod,
    DuplicateCluster,
    Project,
    Shingle,
)
from curation.services.dedup import word_folding


def member_reasons(cluster: DuplicateCluster, folding: Folding) -> dict[int, str]:
    """example id -> the reason, for every member but the kept one, by the rule of the job that
    added it (prefetch the members, their examples and jobs when reading many clusters)."""
    members = list(cluster.members.all())
    kept = next((member.example for member in members if member.example_id == cluster.kept_id), None)
    if kept is None:
        return {}
    return {
        member.example_id: reason(
            _added_by(member, cluster), member.example.input, kept.input, member.similarity, folding
        )
        for member in members
        if member.example_id != cluster.kept_id
    }


def _added_by(member: ClusterMember, cluster: DuplicateCluster) -> DedupJob:
    """The job that put the member in the cluster: a later job can extend a cluster, by another
    method. Rows from before ClusterMember.job have none: the cluster's job made them."""
    # The cluster's job is loaded with it: members it added cost no query even unprefetched.
    other = None if member.job_id in (None, cluster.job_id) else member.job
    return other or cluster.job


def reason(job: DedupJob, text: str, kept: str, similarity: float, folding: Folding) -> str:
    """The rule that grouped `text` with `kept` at `similarity` under the job's method."""
    if job.method == DedupMethod.EXACT:
        return "The same text once case, punctuation and spacing are set aside."
    if job.method == DedupMethod.EMBEDDING:
        return f"Embedding cosine {similarity:.2f}."
    by_words = explain(text, kept, folding) if job.fields == DedupFields.INPUT else None
    if by_words is not None:
        return by_words
    unit = "word" if job.shingle == Shingle.WORD else "character"
    ngram = job.ngram or (3 if unit == "word" else 5)
    return f"{unit.capitalize()} {ngram}-grams in common: Jaccard {similarity:.2f}."


def with_reasons(clusters: Iterable[DuplicateCluster], project: Project) -> list[DuplicateCluster]:
    """The clusters, each member given its `reason` (templates cannot look up a dict)."""
    folding = word_folding(project)
    shown = list(clusters)
    for cluster in shown:
        reasons = member_reasons(cluster, folding)
        for member in cluster.members.all():
            member.reason = reasons.get(member.example_id, "")  # type: ignore[attr-defined]
    return shown
