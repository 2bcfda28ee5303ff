"""Reads for the team page, its API endpoint and the data card: the labeling queue's submitted
answers as a reliability matrix (curation.agreement computes the figures), and per annotator
what they labeled, how often they agree with the others and with the reviewers, how long they take.

Bounded so a page stays fast on a big project: agreement stands on the most recent
FINCH_AGREEMENT_MAX_ITEMS items with two or more answers, the per-annotator time and reviewer
figures on the most recent as many labeled items; the result says how many items that is.
"""

from __future__ import annotations

import itertools
import json
import statistics
from collections import defaultdict
from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Count

from curation import agreement
from curation.models import (
    AssignmentState,
    DatasetVersion,
    Example,
    ExampleStatus,
    LabelingAssignment,
    LabelingItem,
    Project,
    TaskType,
    VersionItem,
)
from curation.services.labeling_outcomes import answer_key

DELETED_USER = "(deleted user)"
CONFUSED_PAIRS_SHOWN = 10
FREE_TEXT = (
    "Generation and chat answers are free text, where different answers can all be right (they go "
    "to review side by side as alternatives): agreement is not measured for them."
)


@dataclass(frozen=True)
class Answer:
    item_id: int
    annotator: Hashable  # the user's id; ("deleted", assignment id) once the user is gone
    output: str
    seconds: float | None


def max_items() -> int:
    return int(settings.FINCH_AGREEMENT_MAX_ITEMS)


def measured(task_type: str) -> bool:
    return task_type in (TaskType.CLASSIFICATION, TaskType.EXTRACTION)


# -- the project's figures -----------------------------------------------------------------------


def project_agreement(
    *, project: Project, seed: int = 0, resamples: int = agreement.RESAMPLES
) -> dict[str, Any]:
    """Everything the team page and `GET /api/projects/{id}/agreement/` show, as plain data."""
    limit = max_items()
    overlapping = LabelingItem.objects.filter(project=project, annotation_count__gte=2)
    overlap_ids = list(overlapping.order_by("-id").values_list("pk", flat=True)[:limit])
    recent_ids = list(
        LabelingItem.objects.filter(project=project, annotation_count__gte=1)
        .order_by("-id")
        .values_list("pk", flat=True)[:limit]
    )
    overlap, recent = set(overlap_ids), set(recent_ids)
    answers = _answers(overlap | recent)
    matrix = _matrix(a for a in answers if a.item_id in overlap)
    kappas = (
        agreement.pairwise_kappa(_keyed(project.task_type, matrix)) if measured(project.task_type) else []
    )
    figures = _figures(project.task_type, matrix, kappas, seed=seed, resamples=resamples)
    figures["annotators"] = _annotators(project, matrix, [a for a in answers if a.item_id in recent], kappas)
    return {
        "task_type": project.task_type,
        "items": {
            "with_overlap": overlapping.count(),
            "measured": len(overlap_ids),
            "recent_labeled": len(recent_ids),
            "limit": limit,
        },
        "resamples": resamples,
        "seed": seed,
        **figures,
    }


def _answers(item_ids: Iterable[int]) -> list[Answer]:
    rows = LabelingAssignment.objects.filter(item_id__in=list(item_ids), state=AssignmentState.SUBMITTED)
    return [
        Answer(
            item_id=row.item_id,
            annotator=row.annotator_id if row.annotator_id is not None else ("deleted", row.pk),
            output=row.output,
            seconds=row.seconds_spent,
        )
        for row in rows.only("pk", "item_id", "annotator_id", "output", "claimed_at", "submitted_at")
    ]


def _matrix(answers: Iterable[Answer]) -> dict[int, dict[Hashable, str]]:
    """Item id -> annotator -> raw answer, for items with two or more answers."""
    matrix: dict[int, dict[Hashable, str]] = defaultdict(dict)
    for answer in answers:
        matrix[answer.item_id][answer.annotator] = answer.output
    return {item: row for item, row in matrix.items() if len(row) >= 2}


def _keyed(task_type: str, matrix: dict[int, dict[Hashable, str]]) -> list[dict[Hashable, str]]:
    return [{who: answer_key(task_type, output) for who, output in row.items()} for row in matrix.values()]


def _figures(
    task_type: str,
    matrix: dict[int, dict[Hashable, str]],
    kappas: list[agreement.PairKappa],
    *,
    seed: int,
    resamples: int,
) -> dict[str, Any]:
    """The project-wide figures (alpha, kappa, per label or field, confusions) on the matrix."""
    if not measured(task_type):
        unmeasured = agreement.Alpha(None, None, len(matrix), FREE_TEXT).as_dict()
        return {
            "alpha": unmeasured,
            "percent_agreement": None,
            "per_label": [],
            "pairwise": [],
            "per_field": [],
            "confused_pairs": [],
            "confusion": {"labels": [], "table": []},
        }
    items = _keyed(task_type, matrix)
    names = _usernames(who for row in matrix.values() for who in row)
    classification = task_type == TaskType.CLASSIFICATION
    confusion = agreement.confused_pairs(items, top=CONFUSED_PAIRS_SHOWN) if classification else None
    return {
        "alpha": agreement.nominal_alpha(items, resamples=resamples, seed=seed).as_dict(),
        "percent_agreement": agreement.percent_agreement(items),
        "per_label": [
            {"label": entry.label, "items": entry.items, "alpha": entry.alpha.as_dict()}
            for entry in (
                agreement.label_alphas(items, resamples=resamples, seed=seed) if classification else []
            )
        ],
        "pairwise": sorted(
            (
                {
                    "annotators": [names[k.first], names[k.second]],
                    "kappa": k.kappa,
                    "items": k.items,
                    "reason": k.reason,
                }
                for k in kappas
                if _living(k.first) and _living(k.second)
            ),
            key=lambda row: row["annotators"],
        ),
        "per_field": _per_field(task_type, matrix, seed=seed, resamples=resamples),
        "confused_pairs": [
            {"labels": [first, second], "items": count}
            for first, second, count in (confusion.pairs if confusion else [])
        ],
        "confusion": {
            "labels": confusion.labels if confusion else [],
            "table": confusion.table if confusion else [],
        },
    }


def _per_field(
    task_type: str, matrix: dict[int, dict[Hashable, str]], *, seed: int, resamples: int
) -> list[dict[str, Any]]:
    if task_type != TaskType.EXTRACTION:
        return []
    parsed = [{who: _json(output) for who, output in row.items()} for row in matrix.values()]
    return [
        {"field": entry.field, "alpha": entry.alpha.as_dict(), "agreement": entry.agreement}
        for entry in agreement.field_alphas(parsed, resamples=resamples, seed=seed)
    ]


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None  # not JSON: every field of it counts as missing


def _living(annotator: Hashable) -> bool:
    return isinstance(annotator, int)


def _usernames(annotators: Iterable[Hashable]) -> dict[Hashable, str]:
    ids = {who for who in annotators if isinstance(who, int)}
    names: dict[Hashable, str] = defaultdict(lambda: DELETED_USER)
    names.update(get_user_model().objects.filter(pk__in=ids).values_list("pk", "username"))
    return names


# -- per annotator -------------------------------------------------------------------------------


def _annotators(
    project: Project,
    matrix: dict[int, dict[Hashable, str]],
    recent: list[Answer],
    kappas: list[agreement.PairKappa],
) -> list[dict[str, Any]]:
    """One row per annotator with a submitted answer in the project, most items first."""
    labeled = dict(
        LabelingAssignment.objects.filter(
            item__project=project, state=AssignmentState.SUBMITTED, annotator__isnull=False
        )
        .values_list("annotator")
        .annotate(n=Count("id"))
        .values_list("annotator", "n")
    )
    names = _usernames(labeled)
    with_others = _agreement_with_others(project.task_type, matrix)
    with_reviewers = _agreement_with_reviewers(project.task_type, recent)
    seconds: dict[Hashable, list[float]] = defaultdict(list)
    for answer in recent:
        if answer.seconds is not None:
            seconds[answer.annotator].append(answer.seconds)
    rows = []
    for who, count in labeled.items():
        mine = [k.kappa for k in kappas if who in (k.first, k.second) and k.kappa is not None]
        rows.append(
            {
                "username": names[who],
                "items_labeled": count,
                "agreement_with_others": _share(*with_others.get(who, (0, 0))),
                "comparisons": with_others.get(who, (0, 0))[1],
                "mean_kappa": statistics.fmean(mine) if mine else None,
                "agreement_with_reviewers": _share(*with_reviewers.get(who, (0, 0))),
                "reviewed_items": with_reviewers.get(who, (0, 0))[1],
                "median_seconds": statistics.median(seconds[who]) if seconds[who] else None,
            }
        )
    return sorted(rows, key=lambda row: (-row["items_labeled"], row["username"]))


def _share(agree: int, total: int) -> float | None:
    return agree / total if total else None


def _agreement_with_others(
    task_type: str, matrix: dict[int, dict[Hashable, str]]
) -> dict[Hashable, tuple[int, int]]:
    """Per annotator: (comparisons with another annotator's answer on the same item that agree,
    all such comparisons). Not measured for free text."""
    tally: dict[Hashable, list[int]] = defaultdict(lambda: [0, 0])
    if not measured(task_type):
        return {}
    for row in _keyed(task_type, matrix):
        for (first, one), (second, other) in itertools.combinations(row.items(), 2):
            for who in (first, second):
                tally[who][0] += one == other
                tally[who][1] += 1
    return {who: (agree, total) for who, (agree, total) in tally.items()}


def _agreement_with_reviewers(task_type: str, answers: list[Answer]) -> dict[Hashable, tuple[int, int]]:
    """Per annotator: (answers equal to an approved example of their item, answers on items with
    an approved example). Items nobody has approved yet say nothing either way."""
    approved: dict[int, set[str]] = defaultdict(set)
    rows = Example.objects.filter(
        labeling_item_id__in={a.item_id for a in answers}, status=ExampleStatus.APPROVED
    ).values_list("labeling_item_id", "output")
    for item_id, output in rows:
        approved[item_id].add(answer_key(task_type, output))
    tally: dict[Hashable, list[int]] = defaultdict(lambda: [0, 0])
    for answer in answers:
        if answer.item_id in approved:
            tally[answer.annotator][0] += answer_key(task_type, answer.output) in approved[answer.item_id]
            tally[answer.annotator][1] += 1
    return {who: (agree, total) for who, (agree, total) in tally.items()}


# -- a frozen version ----------------------------------------------------------------------------


def version_agreement(version: DatasetVersion, *, seed: int = 0) -> dict[str, Any]:
    """Alpha over the version's examples that came from labeling-queue items with two or more
    answers (the most recent FINCH_AGREEMENT_MAX_ITEMS of them), for the data card."""
    task_type = version.project.task_type
    frozen = VersionItem.objects.filter(version=version).values("example_id")
    overlapping = Example.objects.filter(
        pk__in=frozen, labeling_item__isnull=False, labeling_item__annotation_count__gte=2
    ).values_list("labeling_item_id", flat=True)
    item_ids = sorted(set(overlapping), reverse=True)
    measured_ids = item_ids[: max_items()]
    if not measured(task_type):
        alpha = agreement.Alpha(None, None, len(measured_ids), FREE_TEXT)
    else:
        matrix = _matrix(_answers(measured_ids))
        alpha = agreement.nominal_alpha(_keyed(task_type, matrix), seed=seed)
    return {**alpha.as_dict(), "with_overlap": len(item_ids)}
