"""Freezing dataset versions: what goes in, the split, the copy, the checks, and the seal.

A version takes the project's approved examples that are not marked duplicates, not in an open
contradiction flag and not without an output. In one snapshot of the database it reads them,
splits them (curation.freeze.splits) and copies their content into version items with one
set-based INSERT ... SELECT. Then it checks train/eval leakage, computes the data card's
figures and the sha256 of the canonical export, and marks itself frozen: from then on database
triggers refuse any change to it or its items. A failed or blocked freeze leaves no items.
Small freezes run in the request; larger ones run as a Celery task (the API answers 202).
"""

from __future__ import annotations

import json
import logging
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from django.conf import settings
from django.contrib.auth.models import User
from django.db import connection, transaction
from django.db.models import Count, Exists, Max, OuterRef, Q, QuerySet, TextField
from django.db.models.functions import Cast
from django.utils import timezone

from curation.dedup.normalize import exact_key
from curation.errors import Conflict, InvalidInput
from curation.freeze.formats import EXPORT_REVISION, canonical, json_string, jsonl_line_of
from curation.freeze.splits import SplitInput, eval_mask
from curation.models import (
    ClusterMember,
    DatasetVersion,
    Example,
    ExampleStatus,
    FlagExample,
    FlagKind,
    FlagStatus,
    LabelingOrder,
    Project,
    Split,
    TaskType,
    VersionItem,
    VersionStatus,
)
from curation.services.audit import audit
from curation.services.content import answer_key
from curation.services.dedup import LABELLED_TASKS
from curation.services.dispatch import send_on_commit
from curation.services.heartbeat import beating, heartbeat_claim, heartbeat_forget, held_by_live_worker
from curation.services.jobs import ProgressFn
from curation.services.labeling_order import novelty_schedule
from curation.services.leakage import leakage_check, ngram_pairs
from curation.services.locks import project_lock
from curation.services.validation_jobs import flag_unfit_outputs

log = logging.getLogger(__name__)

MAX_SEED = 2**63 - 1
EXCLUSION_SAMPLE = 10
EXCLUSION_REASONS = {
    "not_approved": "not approved",
    "duplicate": "marked a duplicate",
    "open_contradiction": "in an open contradiction or disagreement flag",
    "invalid": "does not fit the project's labels or schema now (a label since removed, or an open format flag)",
    "empty_output": "no output",
}


@dataclass
class FreezePreview:
    """What a freeze would take now, and what it would leave out and why (a few ids each)."""

    included: int
    excluded: dict[str, int]
    samples: dict[str, list[int]] = field(default_factory=dict)
    not_approved_by_status: dict[str, int] = field(default_factory=dict)


def _in_open_contradiction(project: Project) -> Q:
    """In an open flag that says the examples cannot all be right: a contradiction, or the
    annotators of one input disagreeing."""
    open_flags = FlagExample.objects.filter(
        flag__project=project,
        flag__kind__in=(FlagKind.CONTRADICTION, FlagKind.DISAGREEMENT),
        flag__status=FlagStatus.OPEN,
    )
    return Q(Exists(open_flags.filter(example_id=OuterRef("pk"))))


def _unfit(project: Project) -> Q:
    """Approved under rules the project no longer has: a classification output that is not one
    of its labels now (a label removed with "Save anyway"), or an example a validation job found
    invalid (an open format flag: a schema its output no longer meets, say)."""
    flagged = FlagExample.objects.filter(
        flag__project=project, flag__kind=FlagKind.FORMAT, flag__status=FlagStatus.OPEN
    )
    unfit = Q(Exists(flagged.filter(example_id=OuterRef("pk"))))
    if project.task_type == TaskType.CLASSIFICATION:
        unfit |= ~Q(output__in=list(project.labels)) & ~Q(output="")
    return unfit


def _exclusions(project: Project) -> dict[str, Q]:
    """Why an example stays out, each reason given the ones before it do not apply."""
    approved = Q(status=ExampleStatus.APPROVED)
    unique = approved & Q(duplicate_of__isnull=True)
    contested = _in_open_contradiction(project)
    unfit = _unfit(project)
    return {
        "not_approved": ~approved,
        "duplicate": approved & Q(duplicate_of__isnull=False),
        "open_contradiction": unique & contested,
        "invalid": unique & ~contested & unfit,
        "empty_output": unique & ~contested & ~unfit & Q(output=""),
    }


def included_examples(project: Project) -> QuerySet[Example]:
    """The examples a freeze takes now."""
    return (
        project.examples.filter(Q(status=ExampleStatus.APPROVED, duplicate_of__isnull=True) & ~Q(output=""))
        .exclude(_in_open_contradiction(project))
        .exclude(_unfit(project))
    )


def exclusion_counts(project: Project) -> dict[str, int]:
    """How many examples each reason keeps out, in one pass over the project's examples."""
    reasons = _exclusions(project)
    counts = project.examples.aggregate(
        **{reason: Count("id", filter=rule) for reason, rule in reasons.items()}
    )
    return {reason: counts[reason] or 0 for reason in reasons}


def freeze_preview(project: Project) -> FreezePreview:
    by_status = (
        project.examples.exclude(status=ExampleStatus.APPROVED).values("status").annotate(n=Count("id"))
    )
    return FreezePreview(
        included=included_examples(project).count(),
        excluded=exclusion_counts(project),
        samples={
            reason: list(
                project.examples.filter(rule).order_by("id").values_list("id", flat=True)[:EXCLUSION_SAMPLE]
            )
            for reason, rule in _exclusions(project).items()
        },
        not_approved_by_status={row["status"]: row["n"] for row in by_status.order_by("status")},
    )


def next_version_number(project: Project) -> int:
    return (project.versions.aggregate(last=Max("number"))["last"] or 0) + 1


def version_create(
    *,
    project: Project,
    user: User,
    name: str = "",
    eval_fraction: float = 0.1,
    seed: int = 0,
    note: str = "",
    block_on_leakage: bool = False,
) -> DatasetVersion:
    """Start freezing a version: done before returning for small sets, else queued (the version
    is `freezing` until the task ends). InvalidInput names a bad parameter; Conflict when the
    project has a freeze running or nothing to freeze."""
    if not 0 <= eval_fraction <= 0.5:
        raise InvalidInput("eval_fraction must be between 0 and 0.5.", field="eval_fraction")
    if not 0 <= seed <= MAX_SEED:
        raise InvalidInput(f"seed must be between 0 and {MAX_SEED}.", field="seed")
    if len(name) > 200:
        raise InvalidInput("name must be at most 200 characters.", field="name")
    with transaction.atomic():
        project_lock(project.pk)  # one freeze at a time
        busy = project.versions.filter(status=VersionStatus.FREEZING).first()
        if busy is not None:
            raise Conflict(f"Version {busy.number} of this project is still freezing; wait for it to finish.")
        size = included_examples(project).count()
        if size == 0:
            raise Conflict("Nothing to freeze: the project has no approved example that qualifies.")
        number = next_version_number(project)
        version = DatasetVersion.objects.create(
            project=project,
            number=number,
            name=name.strip() or f"v{number}",
            note=note,
            eval_fraction=eval_fraction,
            seed=seed,
            block_on_leakage=block_on_leakage,
            guidelines=project.guidelines,  # what the examples were labeled under
            guidelines_revision=project.guidelines_revision,
            created_by=user,
        )
        summary = f"Started freezing {version.name} ({size} examples, eval fraction {eval_fraction})"
        audit(project=project, actor=user, action="version.freeze", target=version, summary=summary)
    if size <= settings.FINCH_FREEZE_INLINE_MAX:
        freeze(version.pk)
        version.refresh_from_db()
    else:
        from curation.tasks import freeze_version

        send_on_commit(
            lambda: freeze_version.delay(version.pk),
            refused=lambda error: _freeze_not_queued(version, error),
            what=f"the freeze of version {version.pk}",
        )
    return version


def _freeze_not_queued(version: DatasetVersion, error: str) -> None:
    """Nothing of the freeze ran: the version fails (if still freezing), naming why."""
    DatasetVersion.objects.filter(pk=version.pk, status=VersionStatus.FREEZING).update(
        status=VersionStatus.FAILED, error=error.replace("start it again", "freeze again")
    )


def freeze(version_id: int) -> None:
    """Run (or re-run, after a killed worker) the freeze of a version that is still freezing."""
    version = DatasetVersion.objects.select_related("project").get(pk=version_id)
    if not _freeze_claim(version):
        return
    try:
        with beating(version):
            _freeze(version, _progress(version))
    except FreezeBlocked as exc:  # the lead's own rule, not a fault: one line, no traceback
        log.warning("freezing version %s refused: %s", version_id, exc)
        _fail(version, str(exc), "", leakage=exc.leakage)
    except Exception as exc:
        log.exception("freezing version %s failed", version_id)
        _fail(version, str(exc) or exc.__class__.__name__, traceback.format_exc())
    else:
        # The queue's novelty is measured against the latest version: rank it again.
        if version.project.labeling_order == LabelingOrder.NOVELTY:
            novelty_schedule(version.project, only_new=False)
    heartbeat_forget(version)


def _freeze_claim(version: DatasetVersion) -> bool:
    """Take the freeze for this worker (its heartbeat stamped under the version's lock); False
    when it finished or a live worker is freezing it (a task delivered twice: see job_claim)."""
    with transaction.atomic():
        locked = DatasetVersion.objects.select_for_update().get(pk=version.pk)
        if locked.is_finished:
            log.info("version %s already %s; not frozen again", version.pk, locked.status)
            return False
        if held_by_live_worker(locked):
            log.warning("version %s is being frozen by a live worker; this delivery is dropped", version.pk)
            return False
        heartbeat_claim(locked)
    return True


class FreezeBlocked(Exception):
    """The lead asked to block the freeze on leakage, and there is some (`leakage`: what the
    check found, kept on the failed version so that its page and the API say what blocked it)."""

    def __init__(self, message: str, leakage: dict[str, Any]) -> None:
        super().__init__(message)
        self.leakage = leakage


def _freeze(version: DatasetVersion, progress: ProgressFn) -> None:
    from curation.services import datacard
    from curation.services.version_exports import canonical_files_write

    VersionItem.objects.filter(version=version).delete()  # a re-run after a killed worker
    flag_unfit_outputs(version.project, raised_by=f"freeze of v{version.number}")
    clock = _Clock()
    outermost = not connection.in_atomic_block
    with ThreadPoolExecutor(max_workers=1) as background, transaction.atomic():
        if outermost:
            _snapshot()
        rows = _Rows.read(version.project)
        clock.lap("read")
        progress(0.15)
        in_eval = eval_mask(
            rows.split_input(version.project), eval_fraction=version.eval_fraction, seed=version.seed
        )
        clock.lap("split")
        progress(0.3)
        # The n-gram leakage measure needs only the split: it runs while the database copies.
        ngram = background.submit(ngram_pairs, rows.input_keys, in_eval)
        _copy(version, rows.ids, in_eval)
        excluded = exclusion_counts(version.project)
        clock.lap("copy")
        ngram_found = ngram.result()
        clock.lap("ngram leakage (after the copy)")
    progress(0.5)
    leakage = leakage_check(rows.ids, rows.inputs, rows.input_keys, in_eval, ngram_found)
    clock.lap("leakage")
    if version.block_on_leakage and leakage["near_duplicate_pairs"]:
        raise FreezeBlocked(
            f"Leakage found: {leakage['near_duplicate_pairs']} near-duplicate train/eval pairs "
            "(block_on_leakage was set). Run a dedup job or resolve them, then freeze again.",
            leakage,
        )
    progress(0.7)
    stats = datacard.figures(
        version,
        rows.inputs,
        rows.outputs,
        in_eval,
        excluded,
        rows.sources,
        rows.authors,
        rows.suggestion_uses,
    )
    if version.project.task_type in LABELLED_TASKS:
        stats["conflicting_inputs"] = conflicting_inputs(
            version.project.task_type, rows.ids, rows.input_keys, rows.outputs
        )
    clock.lap("card")
    progress(0.85)
    hashes, files = canonical_files_write(version, rows.jsonl_lines(version.project, in_eval))
    clock.lap("sha256")
    counts = {"train": int((~in_eval).sum()), "eval": int(in_eval.sum())}
    manifest = _manifest(version, excluded, hashes, files, clock.laps)
    DatasetVersion.objects.filter(pk=version.pk, status=VersionStatus.FREEZING).update(
        status=VersionStatus.FROZEN,
        progress=1.0,
        sha256=hashes["all"],
        counts=counts,
        leakage=leakage,
        stats=stats,
        manifest=manifest,
        frozen_at=timezone.now(),
    )


CONFLICT_SAMPLE = 10


def conflicting_inputs(
    task_type: str, ids: list[int], input_keys: list[str], outputs: list[str]
) -> dict[str, Any]:
    """Inputs the version holds under two answers or more (equal once normalized: case,
    punctuation, spacing), which a model trained on both learns neither of: how many inputs and
    examples, and the first groups' example ids. Open contradiction flags keep such examples out;
    these are the ones no job has flagged (or whose flag was dismissed)."""
    repeated = {key for key, count in Counter(input_keys).items() if count > 1}  # Counter counts in C
    rows_of: dict[str, list[int]] = {}
    for row, key in enumerate(input_keys):
        if key in repeated:
            rows_of.setdefault(key, []).append(row)
    groups = [
        [ids[row] for row in rows]
        for rows in rows_of.values()
        if len(rows) > 1 and len({answer_key(task_type, outputs[row]) for row in rows}) > 1
    ]
    return {
        "inputs": len(groups),
        "examples": sum(len(group) for group in groups),
        "sample": groups[:CONFLICT_SAMPLE],
    }


def _manifest(
    version: DatasetVersion,
    excluded: dict[str, int],
    hashes: dict[str, str],
    files: dict[str, str],
    timings: dict[str, float],
) -> dict[str, Any]:
    """What the version was made from and how: enough to explain and re-check it later. It also
    records what the exports and the data card show of the project (and who froze it), and the
    export revision the files were rendered at: later project edits change none of them."""
    from curation.services.version_exports import recorded_manifest

    project = version.project
    return {
        "parameters": {
            "eval_fraction": version.eval_fraction,
            "seed": version.seed,
            "block_on_leakage": version.block_on_leakage,
        },
        "rules": {
            "included": "approved, not a duplicate, not in an open contradiction or disagreement flag, with an output",
            "groups": "equal normalized inputs and dedup cluster members share a side",
            "eval_lineage": "examples in the eval split of an earlier version stay in eval",
            "stratified_by": "label" if project.task_type == TaskType.CLASSIFICATION else None,
            "order": "by split (train, eval), then example id",
        },
        "excluded": excluded,
        "canonical_export": "format=jsonl, split=all (train lines, then eval lines)",
        "sha256": hashes,
        "files": files,
        "timings": timings,
        **recorded_manifest(version),
    }


class _Clock:
    """Seconds per step of a freeze, kept in its manifest."""

    def __init__(self) -> None:
        self.laps: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, step: str) -> None:
        now = time.perf_counter()
        self.laps[step] = round(now - self._last, 3)
        self._last = now


@dataclass
class _Rows:
    """The examples a freeze takes, read once, in id order."""

    ids: list[int]
    inputs: list[str]
    outputs: list[str]
    metadata: list[str]  # canonical JSON
    hashes: list[str]
    external_ids: list[str | None] = field(default_factory=list)
    input_keys: list[str] = field(default_factory=list)  # normalized, for grouping and leakage
    sources: Counter[str] = field(default_factory=Counter)
    authors: Counter[int | None] = field(default_factory=Counter)  # user ids
    suggestion_uses: list[str] = field(default_factory=list)  # Example.suggestion_use per row

    @classmethod
    def read(cls, project: Project) -> _Rows:
        rows = cls([], [], [], [], [])
        # Metadata as text, made canonical once per distinct value: rows mostly share a few, and
        # decoding a million JSON values one by one costs seconds.
        canonical_of: dict[str, str] = {}
        query = (
            included_examples(project)
            .order_by("id")
            .values_list(
                "id",
                "input",
                "output",
                Cast("metadata", TextField()),
                "content_hash",
                "source",
                "created_by",
                "suggestion_use",
                "external_id",
            )
        )
        for pk, text, output, metadata, content, source, author, use, external in query.iterator(
            chunk_size=10_000
        ):
            rows.ids.append(pk)
            rows.external_ids.append(external)
            rows.inputs.append(text)
            rows.outputs.append(output)
            if metadata not in canonical_of:
                canonical_of[metadata] = canonical(json.loads(metadata))
            rows.metadata.append(canonical_of[metadata])
            rows.hashes.append(content)
            rows.sources[source] += 1
            rows.authors[author] += 1
            rows.suggestion_uses.append(use)
        rows.input_keys = [exact_key(text) for text in rows.inputs]
        return rows

    def jsonl_lines(self, project: Project, in_eval: np.ndarray) -> Callable[[Split], Iterator[str]]:
        """The rows' canonical `jsonl` export lines of a split, in canonical order (by id: the
        rows' order), at the export revision the freeze records (EXPORT_REVISION)."""
        chat = project.task_type == TaskType.CHAT  # a chat input is stored as canonical JSON

        def of_split(split: Split) -> Iterator[str]:
            for row in np.flatnonzero(in_eval == (split == Split.EVAL)).tolist():
                text = self.inputs[row]
                encoded = text if chat else json_string(text)
                yield jsonl_line_of(
                    self.ids[row],
                    encoded,
                    self.metadata[row],
                    self.outputs[row],
                    split.value,
                    self.external_ids[row],
                    EXPORT_REVISION,
                )

        return of_split

    def split_input(self, project: Project) -> SplitInput:
        row_of = {pk: row for row, pk in enumerate(self.ids)}
        earlier = VersionItem.objects.filter(
            version__project=project, version__status=VersionStatus.FROZEN, split=Split.EVAL
        )
        earlier_ids = set(earlier.values_list("example_id", flat=True))
        earlier_hashes = set(earlier.values_list("content_hash", flat=True))
        pinned = np.array(
            [
                pk in earlier_ids or content in earlier_hashes
                for pk, content in zip(self.ids, self.hashes, strict=True)
            ],
            dtype=bool,
        )
        classification = project.task_type == TaskType.CLASSIFICATION
        return SplitInput(
            content_hashes=self.hashes,
            input_keys=self.input_keys,
            strata=self.outputs if classification else [""] * len(self.ids),
            pinned_eval=pinned,
            linked=_cluster_links(project, row_of),
        )


def _cluster_links(project: Project, row_of: dict[int, int]) -> np.ndarray:
    """(row, row) pairs joining the members of each dedup cluster, active or dissolved (a
    dissolved cluster's members are alike enough that a reviewer had to judge them)."""
    first_row: dict[int, int] = {}
    links: list[tuple[int, int]] = []
    members = ClusterMember.objects.filter(cluster__project=project).values_list("cluster_id", "example_id")
    for cluster, example in members.order_by("cluster_id", "example_id").iterator(chunk_size=10_000):
        row = row_of.get(example)
        if row is None:
            continue
        if cluster in first_row:
            links.append((first_row[cluster], row))
        else:
            first_row[cluster] = row
    return np.array(links, dtype=np.int64).reshape(-1, 2)


def _snapshot() -> None:
    """Read and copy from one snapshot: an edit committed meanwhile changes neither."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")


ITEM_COLUMNS = "version_id, example_id, split, input, output, metadata, external_id, source, content_hash"
COPIED = ("id", "input", "output", "metadata", "external_id", "source", "content_hash")


def _copy(version: DatasetVersion, ids: list[int], in_eval: np.ndarray) -> None:
    """Copy the examples' content into items in the database: no row passes through Python.
    PostgreSQL: one INSERT ... SELECT of the included examples (the same snapshot the split was
    made from), eval ids joined in as an array. SQLite (in process): one prepared INSERT ...
    SELECT per example."""
    item = VersionItem._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            included, params = (
                included_examples(version.project).order_by().values_list(*COPIED).query.sql_with_params()
            )
            eval_ids = np.asarray(ids, dtype=np.int64)[in_eval].tolist()
            cursor.execute(
                f"INSERT INTO {item} ({ITEM_COLUMNS}) SELECT %s, q.id,"
                f" CASE WHEN held.id IS NULL THEN '{Split.TRAIN.value}' ELSE '{Split.EVAL.value}' END,"
                f" q.input, q.output, q.metadata, q.external_id, q.source, q.content_hash"
                f" FROM ({included}) AS q({', '.join(COPIED)})"
                f" LEFT JOIN unnest(%s::bigint[]) AS held(id) ON held.id = q.id",
                [version.pk, *params, eval_ids],
            )
        else:
            splits = np.where(in_eval, Split.EVAL.value, Split.TRAIN.value).tolist()
            copied = ", ".join(f"e.{column}" for column in COPIED[1:])
            cursor.executemany(
                f"INSERT INTO {item} ({ITEM_COLUMNS}) SELECT %s, e.id, %s, {copied}"
                f" FROM {Example._meta.db_table} e WHERE e.id = %s",
                [(version.pk, split, pk) for pk, split in zip(ids, splits, strict=True)],
            )
        copied_rows = cursor.rowcount if connection.vendor == "postgresql" else len(ids)
    if copied_rows != len(ids):  # cannot happen within one snapshot; refuse rather than guess
        raise RuntimeError(f"copied {copied_rows} examples, expected {len(ids)}")


def _progress(version: DatasetVersion) -> ProgressFn:
    def report(fraction: float, **counts: int) -> None:
        DatasetVersion.objects.filter(pk=version.pk, status=VersionStatus.FREEZING).update(progress=fraction)

    return report


def _fail(version: DatasetVersion, error: str, trace: str, *, leakage: dict[str, Any] | None = None) -> None:
    """Mark the version failed and drop its items: a failed freeze leaves nothing half-made (but
    the leakage a blocked freeze found)."""
    from curation.services.version_exports import canonical_files_discard

    canonical_files_discard(version)
    with transaction.atomic():
        VersionItem.objects.filter(version=version).delete()
        found = {"leakage": leakage} if leakage is not None else {}
        DatasetVersion.objects.filter(pk=version.pk, status=VersionStatus.FREEZING).update(
            status=VersionStatus.FAILED, error=error, manifest={"traceback": trace[-4000:]}, **found
        )


@dataclass
class VersionDiff:
    added: list[int]
    removed: list[int]
    changed: list[int]
    moved: list[int]  # same content, other split


def version_diff(old: DatasetVersion, new: DatasetVersion) -> VersionDiff:
    """Example ids added, removed, changed in content, or moved between splits from old to new."""
    if old.project_id != new.project_id:
        raise InvalidInput("Both versions must belong to the same project.", field="other")
    before = {pk: (content, split) for pk, content, split in _item_keys(old)}
    after = {pk: (content, split) for pk, content, split in _item_keys(new)}
    both = before.keys() & after.keys()
    return VersionDiff(
        added=sorted(after.keys() - before.keys()),
        removed=sorted(before.keys() - after.keys()),
        changed=sorted(pk for pk in both if before[pk][0] != after[pk][0]),
        moved=sorted(pk for pk in both if before[pk][0] == after[pk][0] and before[pk][1] != after[pk][1]),
    )


def _item_keys(version: DatasetVersion) -> Any:
    return (
        VersionItem.objects.filter(version=version)
        .values_list("example_id", "content_hash", "split")
        .iterator(chunk_size=10_000)
    )
