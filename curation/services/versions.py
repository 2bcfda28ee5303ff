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

import logging
import time
import traceback
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from django.conf import settings
from django.contrib.auth.models import User
from django.db import connection, transaction
from django.db.models import Count, Max, QuerySet
from django.utils import timezone

from curation.dedup.normalize import exact_key
from curation.errors import Conflict, InvalidInput
from curation.freeze.splits import SplitInput, eval_mask
from curation.models import (
    ClusterMember,
    DatasetVersion,
    Example,
    ExampleStatus,
    FlagExample,
    FlagKind,
    FlagStatus,
    Project,
    Split,
    TaskType,
    VersionItem,
    VersionStatus,
)
from curation.services.jobs import ProgressFn
from curation.services.leakage import leakage_check

log = logging.getLogger(__name__)

MAX_SEED = 2**63 - 1
EXCLUSION_SAMPLE = 10
EXCLUSION_REASONS = {
    "not_approved": "not approved",
    "duplicate": "marked a duplicate",
    "open_contradiction": "in an open contradiction flag",
    "empty_output": "no output",
}


@dataclass
class FreezePreview:
    """What a freeze would take now, and what it would leave out and why (a few ids each)."""

    included: int
    excluded: dict[str, int]
    samples: dict[str, list[int]] = field(default_factory=dict)
    not_approved_by_status: dict[str, int] = field(default_factory=dict)


def _open_contradiction_ids(project: Project) -> Any:  # a values() subquery
    return FlagExample.objects.filter(
        flag__project=project, flag__kind=FlagKind.CONTRADICTION, flag__status=FlagStatus.OPEN
    ).values("example_id")


def included_examples(project: Project) -> QuerySet[Example]:
    """The examples a freeze takes now."""
    return (
        project.examples.filter(status=ExampleStatus.APPROVED, duplicate_of__isnull=True)
        .exclude(output="")
        .exclude(id__in=_open_contradiction_ids(project))
    )


def freeze_preview(project: Project) -> FreezePreview:
    approved = project.examples.filter(status=ExampleStatus.APPROVED)
    unique = approved.filter(duplicate_of__isnull=True)
    agreed = unique.exclude(id__in=_open_contradiction_ids(project))
    excluded = {
        "not_approved": project.examples.exclude(status=ExampleStatus.APPROVED),
        "duplicate": approved.filter(duplicate_of__isnull=False),
        "open_contradiction": unique.filter(id__in=_open_contradiction_ids(project)),
        "empty_output": agreed.filter(output=""),
    }
    by_status = (
        project.examples.exclude(status=ExampleStatus.APPROVED).values("status").annotate(n=Count("id"))
    )
    return FreezePreview(
        included=included_examples(project).count(),
        excluded={reason: rows.count() for reason, rows in excluded.items()},
        samples={
            reason: list(rows.order_by("id").values_list("id", flat=True)[:EXCLUSION_SAMPLE])
            for reason, rows in excluded.items()
        },
        not_approved_by_status={row["status"]: row["n"] for row in by_status.order_by("status")},
    )


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
        Project.objects.select_for_update().filter(pk=project.pk).first()  # one freeze at a time
        busy = project.versions.filter(status=VersionStatus.FREEZING).first()
        if busy is not None:
            raise Conflict(f"Version {busy.number} of this project is still freezing; wait for it to finish.")
        size = included_examples(project).count()
        if size == 0:
            raise Conflict("Nothing to freeze: the project has no approved example that qualifies.")
        number = (project.versions.aggregate(last=Max("number"))["last"] or 0) + 1
        version = DatasetVersion.objects.create(
            project=project,
            number=number,
            name=name.strip() or f"v{number}",
            note=note,
            eval_fraction=eval_fraction,
            seed=seed,
            block_on_leakage=block_on_leakage,
            created_by=user,
        )
    if size <= settings.FINCH_FREEZE_INLINE_MAX:
        freeze(version.pk)
        version.refresh_from_db()
    else:
        from curation.tasks import freeze_version

        transaction.on_commit(lambda: freeze_version.delay(version.pk))
    return version


def freeze(version_id: int) -> None:
    """Run (or re-run, after a killed worker) the freeze of a version that is still freezing."""
    version = DatasetVersion.objects.select_related("project").get(pk=version_id)
    if version.is_finished:
        log.info("version %s already %s; not frozen again", version_id, version.status)
        return
    try:
        _freeze(version, _progress(version))
    except Exception as exc:
        log.exception("freezing version %s failed", version_id)
        _fail(version, str(exc) or exc.__class__.__name__, traceback.format_exc())


class FreezeBlocked(Exception):
    """The lead asked to block the freeze on leakage, and there is some."""


def _freeze(version: DatasetVersion, progress: ProgressFn) -> None:
    from curation.services import datacard
    from curation.services.version_exports import export_hashes

    VersionItem.objects.filter(version=version).delete()  # a re-run after a killed worker
    clock = _Clock()
    outermost = not connection.in_atomic_block
    with transaction.atomic():
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
        _copy(version, rows.ids, in_eval)
        excluded = freeze_preview(version.project).excluded
        clock.lap("copy")
    progress(0.5)
    leakage = leakage_check(rows.ids, rows.inputs, in_eval)
    clock.lap("leakage")
    if version.block_on_leakage and leakage["near_duplicate_pairs"]:
        raise FreezeBlocked(
            f"Leakage found: {leakage['near_duplicate_pairs']} near-duplicate train/eval pairs "
            "(block_on_leakage was set). Run a dedup job or resolve them, then freeze again."
        )
    progress(0.7)
    stats = datacard.figures(version, rows.inputs, rows.outputs, in_eval, excluded)
    clock.lap("card")
    progress(0.85)
    hashes = export_hashes(version)
    clock.lap("sha256")
    counts = {"train": int((~in_eval).sum()), "eval": int(in_eval.sum())}
    manifest = {
        "parameters": {
            "eval_fraction": version.eval_fraction,
            "seed": version.seed,
            "block_on_leakage": version.block_on_leakage,
        },
        "rules": {
            "included": "approved, not a duplicate, not in an open contradiction flag, with an output",
            "groups": "equal normalized inputs and dedup cluster members share a side",
            "eval_lineage": "examples in the eval split of an earlier version stay in eval",
            "stratified_by": "label" if version.project.task_type == TaskType.CLASSIFICATION else None,
            "order": "by split (train, eval), then example id",
        },
        "excluded": excluded,
        "canonical_export": "format=jsonl, split=all (train lines, then eval lines)",
        "sha256": hashes,
        "timings": clock.laps,
        "project": {
            "id": version.project.pk,
            "task_type": version.project.task_type,
            "system_prompt": version.project.system_prompt,
            "labels": version.project.labels,
        },
    }
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
    hashes: list[str]

    @classmethod
    def read(cls, project: Project) -> _Rows:
        rows = cls([], [], [], [])
        query = included_examples(project).order_by("id").values_list("id", "input", "output", "content_hash")
        for pk, text, output, content in query.iterator(chunk_size=10_000):
            rows.ids.append(pk)
            rows.inputs.append(text)
            rows.outputs.append(output)
            rows.hashes.append(content)
        return rows

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
            input_keys=[exact_key(text) for text in self.inputs],
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


def _copy(version: DatasetVersion, ids: list[int], in_eval: np.ndarray) -> None:
    """Copy the examples' content into items: one INSERT ... SELECT, no row passes through Python."""
    splits = np.where(in_eval, Split.EVAL.value, Split.TRAIN.value).tolist()
    item, example = VersionItem._meta.db_table, Example._meta.db_table
    copied = "e.input, e.output, e.metadata, e.external_id, e.source, e.content_hash"
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                f"INSERT INTO {item} ({ITEM_COLUMNS}) SELECT %s, e.id, plan.split, {copied}"
                f" FROM unnest(%s::bigint[], %s::text[]) AS plan(id, split) JOIN {example} e ON e.id = plan.id",
                [version.pk, ids, splits],
            )
        else:
            cursor.executemany(
                f"INSERT INTO {item} ({ITEM_COLUMNS}) SELECT %s, e.id, %s, {copied} FROM {example} e WHERE e.id = %s",
                [(version.pk, split, pk) for pk, split in zip(ids, splits, strict=True)],
            )


def _progress(version: DatasetVersion) -> ProgressFn:
    def report(fraction: float, **counts: int) -> None:
        DatasetVersion.objects.filter(pk=version.pk, status=VersionStatus.FREEZING).update(progress=fraction)

    return report


def _fail(version: DatasetVersion, error: str, trace: str) -> None:
    """Mark the version failed and drop its items: a failed freeze leaves nothing half-made."""
    with transaction.atomic():
        VersionItem.objects.filter(version=version).delete()
        DatasetVersion.objects.filter(pk=version.pk, status=VersionStatus.FREEZING).update(
            status=VersionStatus.FAILED, error=error, manifest={"traceback": trace[-4000:]}
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
