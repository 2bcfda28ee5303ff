"""Dedup jobs: find clusters of duplicates, mark all but one member of each, reversibly.

A job reads the project's examples that are not rejected, groups them by its method, and applies
the groups in one transaction at the end (a killed worker leaves no half-applied marks; the job
can simply run again). Applying respects earlier decisions:
- an example is in at most one active cluster; a group touching an active cluster only adds its
  new examples to that cluster (its kept example stays, whoever chose it);
- a group whose examples all sat in one dissolved cluster is not re-created (someone decided
  they are not duplicates);
- re-running a job on unchanged data changes nothing;
- no job marks an example a duplicate of one under another label (classification, extraction);
  one comparing inputs only flags the two as a contradiction instead.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib.auth.models import User
from django.db import connection, transaction
from django.db.models import QuerySet
from django.utils import timezone

from curation.dedup.normalize import exact_keys, same_key_groups
from curation.dedup.short_texts import Folding
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
    FlagKind,
    Project,
    Shingle,
    TaskType,
)
from curation.phases import phase
from curation.services.audit import audit
from curation.services.content import answer_key
from curation.services.dispatch import job_send_on_commit
from curation.services.flags import JobPair, disagreement_note, job_flags_raise
from curation.services.jobs import HandedOff, ProgressFn
from curation.services.locks import project_lock
from curation.services.lookups import matching

DEFAULT_THRESHOLDS = {DedupMethod.EXACT: 1.0, DedupMethod.MINHASH: 0.8, DedupMethod.EMBEDDING: 0.95}
# NUL never occurs in validated content, and normalization keeps it: input and output stay apart.
FIELD_SEPARATOR = "\x00"
LABELLED_TASKS = (TaskType.CLASSIFICATION, TaskType.EXTRACTION)
KEEP_ORDER = {ExampleStatus.APPROVED: 0, ExampleStatus.SUBMITTED: 1, ExampleStatus.DRAFT: 2}
Similarity = Callable[[int, int], float]


@transaction.atomic
def dedup_job_create(
    *,
    project: Project,
    user: User,
    method: str,
    threshold: float | None = None,
    fields: str = DedupFields.INPUT,
    num_perm: int = 128,
    shingle: str = Shingle.AUTO,
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
    if shingle not in Shingle.values:
        raise InvalidInput(f"shingle must be one of {', '.join(Shingle.values)}.", field="shingle")
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
        shingle=shingle,
        ngram=ngram,
    )
    summary = f"Started dedup job {job.pk} ({method}, threshold {threshold})"
    audit(project=project, actor=user, action="dedup_job.start", target=job, summary=summary)
    job_send_on_commit(job, lambda: dedup_examples.delay(job.pk))
    return job


def dedup_start(job: DedupJob, progress: ProgressFn) -> HandedOff | None:
    """Exact jobs run here; MinHash and embedding jobs hand their per-example work to chunk
    tasks (a Celery group: more workers finish sooner), the last of which queues the merge (an
    embedding job with static candidates has no per-example work: its merge runs here)."""
    if job.method == DedupMethod.EXACT:
        with phase("read"):
            ids, texts = example_texts(job, job_examples(job))
        with phase("candidates"):  # equal normalized texts: the groups themselves
            groups = [group for group in same_key_groups(texts) if len(group) > 1]
        progress(0.8, examples_checked=len(ids))
        with phase("write"):
            apply_groups(job, [[ids[i] for i in group] for group in groups], lambda a, b: 1.0, len(ids))
        return None
    from curation.services.dedup_chunks import chunks_dispatch

    return chunks_dispatch(job, progress)


def word_folding(project: Project) -> Folding:
    """How the project's short texts are folded before they are compared word by word."""
    return Folding(tuple(project.filler_words), project.currency_folds)


def job_examples(job: DedupJob) -> QuerySet[Example]:
    """What a job looks at: the project's examples that are not rejected, by id."""
    return job.project.examples.exclude(status=ExampleStatus.REJECTED).order_by("id")


def example_texts(job: DedupJob, examples: QuerySet[Example]) -> tuple[list[int], list[str]]:
    """Ids and the texts the job compares: normalized for exact and MinHash (case, punctuation
    and spacing never hide a duplicate), as written for embeddings."""
    both = job.fields == DedupFields.INPUT_OUTPUT
    rows = examples.values_list("id", "input", "output") if both else examples.values_list("id", "input")
    ids: list[int] = []
    columns: list[list[str]] = [[], []] if both else [[]]
    for row in rows.iterator(chunk_size=5000):
        ids.append(row[0])
        for column, field in zip(columns, row[1:], strict=True):
            column.append(field)
    if job.method == DedupMethod.EMBEDDING:
        return ids, ["\n\n".join(fields) for fields in zip(*columns, strict=True)]
    keys = [exact_keys(column) for column in columns]
    return ids, [FIELD_SEPARATOR.join(fields) for fields in zip(*keys, strict=True)]


def apply_groups(
    job: DedupJob,
    groups: list[list[int]],
    similarity: Similarity,
    checked: int,
    links: dict[int, int] | None = None,
) -> None:
    """Create or extend clusters for the groups (example ids) and record the job's counts, in one
    transaction: a killed worker leaves no half-applied marks. A job that finished meanwhile (a
    duplicate merge task) applies nothing. `links`: example id -> how many of the job's similar
    pairs it is in (the example most of its group is like leads, among equals in status)."""
    with transaction.atomic():
        # One apply per project at a time: another job's uncommitted clusters would be invisible,
        # and both would cluster the same examples.
        project_lock(job.project_id)
        locked = DedupJob.objects.select_for_update().get(pk=job.pk)
        if locked.is_finished:
            return
        clusters, marked, raised = _apply(job, groups, similarity, links or {})
        DedupJob.objects.filter(pk=job.pk).update(
            examples_checked=checked, clusters=clusters, duplicates_marked=marked, flags_raised=raised
        )


def _apply(
    job: DedupJob, groups: list[list[int]], similarity: Similarity, links: dict[int, int]
) -> tuple[int, int, int]:
    """Create or extend clusters for the groups, in bulk, and flag inputs alike under different
    labels; returns (clusters touched, marked, flags raised).

    A group (connected by similar pairs) can chain examples that are not alike end to end, so
    it is cut into clusters around leaders: every duplicate is at least `threshold` similar to
    the example it is marked a duplicate of.
    """
    threshold = job.threshold if job.threshold is not None else DEFAULT_THRESHOLDS[DedupMethod(job.method)]

    def inputs_alike(a: int, b: int) -> bool:
        try:
            return similarity(a, b) >= threshold
        except KeyError:  # an example this job did not compare (say, an older cluster's kept one)
            return False

    ranks = _keep_ranks([pk for group in groups for pk in group], links)
    active = _active_cluster_of(job.project)
    outputs = _labelled_outputs(job, [*ranks, *{active[pk].kept_id for pk in ranks if pk in active}])
    answers = {pk: answer_key(job.project.task_type, output) for pk, output in outputs.items()}

    def alike(a: int, b: int) -> bool:  # under two labels: a contradiction, never a duplicate
        return answers.get(a) == answers.get(b) and inputs_alike(a, b)

    dissolved = [set(ids) for ids in _dissolved_member_sets(job.project)]
    created: list[tuple[DuplicateCluster, list[int]]] = []
    extended: list[tuple[DuplicateCluster, list[int]]] = []
    for group in groups:
        ids = [pk for pk in group if pk in ranks]  # not deleted since the job read it
        leftover = [pk for pk in ids if pk not in active]
        existing = sorted({active[pk] for pk in ids if pk in active}, key=lambda cluster: cluster.pk)
        if existing and leftover:  # newcomers join the clustered example they are like
            joining = [pk for pk in leftover if alike(pk, existing[0].kept_id)]
            if joining:
                extended.append((existing[0], joining))
            leftover = [pk for pk in leftover if pk not in joining]
        for members in _around_leaders(leftover, ranks, alike):
            if not any(set(members) <= dissolved_set for dissolved_set in dissolved):
                created.append((DuplicateCluster(project=job.project, job=job, kept_id=members[0]), members))
    DuplicateCluster.objects.bulk_create([cluster for cluster, _ in created])
    applied = created + extended

    def to_kept(pk: int, cluster: DuplicateCluster) -> float:
        if pk == cluster.kept_id:
            return 1.0
        return similarity(pk, cluster.kept_id) if cluster.kept_id in ranks else 0.0

    ClusterMember.objects.bulk_create(
        [
            ClusterMember(cluster=cluster, example_id=pk, similarity=to_kept(pk, cluster), job=job)
            for cluster, ids in applied
            for pk in ids
        ]  # no batch_size: one UNNEST insert on PostgreSQL, the most variables allowed on SQLite
    )
    marks = [(cluster.kept_id, pk) for cluster, ids in applied for pk in ids if pk != cluster.kept_id]
    _mark_duplicates(marks)
    raised = 0
    if answers and job.fields == DedupFields.INPUT:
        # A version holds no duplicate: only examples that are none are weighed.
        duplicates = {pk for pk, cluster in active.items() if pk != cluster.kept_id} | {pk for _, pk in marks}
        unique_ids = [[pk for pk in group if pk in ranks and pk not in duplicates] for group in groups]
        disagreements = [
            pair for ids in unique_ids for pair in _disagreements(ids, ranks, outputs, answers, inputs_alike)
        ]
        raised = job_flags_raise(job.project, FlagKind.CONTRADICTION, disagreements, f"dedup-job:{job.pk}")
    return len(created) + len({cluster.pk for cluster, _ in extended}), len(marks), raised


def _labelled_outputs(job: DedupJob, ids: list[int]) -> dict[int, str]:
    """Outputs of the examples where an output is a label (or an extraction's JSON): two
    examples under different labels are never duplicates, whatever the job compares (a long input
    and a short label sketched together could pass a MinHash threshold), and marking one a
    duplicate would quietly pick a label. Free text answers one input many ways, so generation
    and chat projects get {} (any member may be kept)."""
    if job.project.task_type not in LABELLED_TASKS:
        return {}
    outputs: dict[int, str] = {}
    for rows in matching(Example.objects.all(), "id", ids, sql_type="bigint"):
        outputs.update(rows.values_list("id", "output"))
    return outputs


def _disagreements(
    ids: list[int],
    ranks: dict[int, tuple[int, int, Any, int]],
    outputs: dict[int, str],
    answers: dict[int, str],
    inputs_alike: Callable[[int, int], bool],
) -> list[JobPair]:
    """The group's labels, each with its examples in keep order; the most common label's first
    example against the first example of each other label whose input is alike to it (the
    contradiction job's rule: a big group never explodes into all its pairs)."""
    by_label: dict[str, list[int]] = {}
    for pk in sorted((pk for pk in ids if pk in answers), key=ranks.__getitem__):
        by_label.setdefault(answers[pk], []).append(pk)
    if len(by_label) < 2:
        return []
    majority, *others = sorted(by_label.values(), key=lambda members: (-len(members), ranks[members[0]]))
    anchor = majority[0]
    pairs = []
    for members in others:
        other = next((pk for pk in members if inputs_alike(anchor, pk)), None)
        if other is not None:
            pairs.append(((anchor, other), disagreement_note(outputs[anchor], outputs[other])))
    return pairs


def _around_leaders(
    ids: list[int], ranks: dict[int, tuple[int, int, Any, int]], alike: Callable[[int, int], bool]
) -> list[list[int]]:
    """In keep order, each example joins the first leader it is like, or leads a cluster of its
    own; clusters of one are dropped. Each cluster's first member is its leader, the kept one."""
    clusters: list[list[int]] = []
    for pk in sorted(ids, key=ranks.__getitem__):
        home = next((members for members in clusters if alike(pk, members[0])), None)
        if home is None:
            clusters.append([pk])
        else:
            home.append(pk)
    return [members for members in clusters if len(members) > 1]


def _mark_duplicates(marks: list[tuple[int, int]]) -> None:
    """Set duplicate_of for (kept, duplicate) pairs: bulk_update's CASE expression costs 10x
    more at this size. PostgreSQL joins two arrays; SQLite (in process) runs one prepared UPDATE
    per pair."""
    table = Example._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            kept, duplicates = [pair[0] for pair in marks], [pair[1] for pair in marks]
            cursor.execute(
                f"UPDATE {table} AS example SET duplicate_of_id = marks.kept"
                " FROM unnest(%s::bigint[], %s::bigint[]) AS marks(kept, id) WHERE example.id = marks.id",
                [kept, duplicates],
            )
        else:
            cursor.executemany(f"UPDATE {table} SET duplicate_of_id = %s WHERE id = %s", marks)


def _keep_ranks(ids: list[int], links: dict[int, int]) -> dict[int, tuple[int, int, Any, int]]:
    """Approved before submitted before draft (before anything else), then the example in the
    most similar pairs (the one most of its group is like: a copy of a copy then joins it, where
    around a less central leader it would be left out), then the oldest."""
    ranks = {}
    for rows in matching(Example.objects.all(), "id", ids, sql_type="bigint"):
        for pk, status, created_at in rows.values_list("id", "status", "created_at"):
            order = KEEP_ORDER.get(ExampleStatus(status), len(KEEP_ORDER))
            ranks[pk] = (order, -links.get(pk, 0), created_at, pk)
    return ranks


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


def cluster_seen(cluster: DuplicateCluster) -> str:
    """What a page shows of a cluster (its kept example and members), posted back with a
    decision so that one made on a page another reviewer's decision has outdated is refused."""
    members = sorted(member.example_id for member in cluster.members.all())
    return f"{cluster.kept_id}:{','.join(map(str, members))}"


@transaction.atomic
def cluster_keep(
    *, cluster: DuplicateCluster, user: User, example_id: int, seen: str | None = None
) -> DuplicateCluster:
    """Keep another member: the others, the old kept one too, become its duplicates. `seen`:
    cluster_seen as the deciding page showed it."""
    cluster = DuplicateCluster.objects.select_for_update().get(pk=cluster.pk)
    _require_active(cluster)
    _require_unchanged(cluster, seen)
    member_ids = list(cluster.members.values_list("example_id", flat=True))
    if example_id not in member_ids:
        raise InvalidInput(f"Example {example_id} is not a member of cluster {cluster.pk}.", field="example")
    Example.objects.filter(pk__in=member_ids).exclude(pk=example_id).update(duplicate_of_id=example_id)
    Example.objects.filter(pk=example_id).update(duplicate_of=None)
    previous, cluster.kept_id = cluster.kept_id, example_id
    summary = f"Kept example {example_id} in duplicate cluster {cluster.pk}"
    audit(
        project=cluster.project_id,
        actor=user,
        action="cluster.keep",
        target=cluster,
        summary=summary,
        changes={"kept": (previous, example_id)},
    )
    return _decided(cluster, user)


@transaction.atomic
def cluster_dissolve(*, cluster: DuplicateCluster, user: User, seen: str | None = None) -> DuplicateCluster:
    """Undo the cluster: its members are no longer duplicates, and re-runs will not re-create it."""
    cluster = DuplicateCluster.objects.select_for_update().get(pk=cluster.pk)
    _require_active(cluster)
    _require_unchanged(cluster, seen)
    member_ids = list(cluster.members.values_list("example_id", flat=True))
    Example.objects.filter(pk__in=member_ids, duplicate_of_id=cluster.kept_id).update(duplicate_of=None)
    cluster.status = ClusterStatus.DISSOLVED
    summary = (
        f"Dissolved duplicate cluster {cluster.pk}: its {len(member_ids)} examples are no longer duplicates"
    )
    audit(
        project=cluster.project_id,
        actor=user,
        action="cluster.dissolve",
        target=cluster,
        summary=summary,
        changes={"status": (ClusterStatus.ACTIVE, ClusterStatus.DISSOLVED)},
    )
    return _decided(cluster, user)


def _require_active(cluster: DuplicateCluster) -> None:
    if cluster.status != ClusterStatus.ACTIVE:
        raise Conflict(f"Cluster {cluster.pk} is {cluster.status}{_by_whom(cluster)}; nothing changed.")


def _require_unchanged(cluster: DuplicateCluster, seen: str | None) -> None:
    if seen is None or seen == cluster_seen(cluster):
        return
    raise Conflict(
        f"Cluster {cluster.pk} changed since this page showed it{_by_whom(cluster)}: it now keeps "
        f"example {cluster.kept_id} of {cluster.members.count()}. Nothing changed; look at it again "
        "before deciding."
    )


def _by_whom(cluster: DuplicateCluster) -> str:
    return f" (by {cluster.changed_by.username})" if cluster.changed_by else ""


def _decided(cluster: DuplicateCluster, user: User) -> DuplicateCluster:
    cluster.changed_by = user
    cluster.changed_at = timezone.now()
    cluster.save()
    return cluster
