"""Reads of the labeling queue, scoped through the user like every selector: a non-member gets
404, a role below the one asked for 403. What an annotator may see of other people's answers is
decided here too (never while the item still waits for annotations)."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Exists, F, OuterRef, QuerySet

from curation import filters as query
from curation.errors import NotFound
from curation.models import (
    AssignmentState,
    Example,
    Flag,
    FlagExample,
    FlagKind,
    ItemStatus,
    LabelingAssignment,
    LabelingItem,
    Project,
    Role,
)
from curation.roles import has_role, require_role
from curation.selectors import AnyUser, as_id
from curation.services.labeling_outcomes import answer_key

LABELING_ITEM_FILTERS = ("status", "source", "skipped")


def labeling_item_list(*, project: Project, filters: dict[str, str]) -> QuerySet[LabelingItem]:
    """The project's queued and labeled inputs, filtered by status, source and whether someone
    skipped them."""
    items = LabelingItem.objects.filter(project=project)
    if status := query.choice(filters.get("status"), ItemStatus.values, "status"):
        items = items.filter(status=status)
    if filters.get("source"):
        items = items.filter(source=query.text(filters["source"], "source"))
    skipped = query.boolean(filters.get("skipped"), "skipped")
    if skipped is not None:
        items = items.filter(skipped_by_someone()) if skipped else items.exclude(skipped_by_someone())
    return items


def skipped_by_someone() -> Exists:
    """The condition on labeling items that someone skipped the item."""
    return Exists(LabelingAssignment.objects.filter(item=OuterRef("pk"), state=AssignmentState.SKIPPED))


def _skips() -> QuerySet[LabelingAssignment]:
    """Skips with who made them, oldest first."""
    skips = LabelingAssignment.objects.filter(state=AssignmentState.SKIPPED).select_related("annotator")
    return skips.order_by("claimed_at", "id")


def with_skips(items: list[LabelingItem]) -> list[LabelingItem]:
    """The items, each given `skips`: who passed on it and why, oldest first (one query a page)."""
    skips: dict[int, list[LabelingAssignment]] = {item.pk: [] for item in items}
    for skip in _skips().filter(item__in=list(skips)):
        skips[skip.item_id].append(skip)
    for item in items:
        item.skips = skips[item.pk]  # type: ignore[attr-defined]
    return items


def stuck_item_ids(project: Project) -> list[int]:
    """Queued inputs still short of their annotations that nobody can take: every member of the
    project has skipped or answered them, and nobody holds them now. Only a lead's decision
    moves them (set them aside, or back in the queue for everyone after a change of labels)."""
    members = set(project.memberships.values_list("user_id", flat=True))
    skipped = LabelingAssignment.objects.filter(
        state=AssignmentState.SKIPPED, item__project=project, item__status=ItemStatus.QUEUED
    ).values_list("item_id", flat=True)
    touched: dict[int, set[int | None]] = {}
    held: set[int] = set()
    rows = LabelingAssignment.objects.filter(item_id__in=skipped).values_list(
        "item_id", "annotator_id", "state"
    )
    for item_id, annotator_id, state in rows:
        touched.setdefault(item_id, set()).add(annotator_id)
        if state == AssignmentState.CLAIMED:
            held.add(item_id)
    return sorted(item for item, annotators in touched.items() if members <= annotators and item not in held)


def labeling_item_get(*, user: AnyUser, item_id: Any, min_role: str = Role.ANNOTATOR) -> LabelingItem:
    item = (
        LabelingItem.objects.select_related("project")
        .filter(pk=as_id(item_id), project__in=Project.objects.for_user(user))
        .first()
    )
    if item is None:
        raise NotFound("No such labeling item.")
    require_role(user, item.project, min_role)
    return item


def visible_annotations(*, item: LabelingItem, user: AnyUser, role: str | None) -> list[LabelingAssignment]:
    """The item's submitted answers the user may read: all of them for reviewers and leads, and
    for anyone once the item is labeled; only their own while it still waits for annotations,
    so that annotators label independently."""
    answers = LabelingAssignment.objects.filter(item=item, state=AssignmentState.SUBMITTED)
    if item.status == ItemStatus.QUEUED and not has_role(role, Role.REVIEWER):
        answers = answers.filter(annotator_id=user.pk)
    return list(answers.select_related("annotator").order_by("submitted_at", "id"))


def visible_skips(*, item: LabelingItem, user: AnyUser, role: str | None) -> list[LabelingAssignment]:
    """Who passed on the item and why: every skip for reviewers and leads, one's own otherwise."""
    skips = _skips().filter(item=item)
    if not has_role(role, Role.REVIEWER):
        skips = skips.filter(annotator_id=user.pk)
    return list(skips)


def item_example_ids(item: LabelingItem) -> list[int]:
    """The examples the item became (none while it is queued)."""
    return list(Example.objects.filter(labeling_item=item).order_by("id").values_list("pk", flat=True))


def item_flag_id(item: LabelingItem) -> int | None:
    """The disagreement flag the item's answers raised, if they did."""
    members = FlagExample.objects.filter(example__labeling_item=item, flag__kind=FlagKind.DISAGREEMENT)
    return members.order_by("-flag_id").values_list("flag_id", flat=True).first()


def labeling_summary(project: Project) -> dict[str, int]:
    """Items by status, `claimable`: queued items with a free slot right now, and `stuck`: queued
    items nobody can take any more (stuck_item_ids)."""
    rows = LabelingItem.objects.filter(project=project).values("status").annotate(n=Count("id")).order_by()
    counts = dict.fromkeys(ItemStatus.values, 0)
    counts.update({row["status"]: row["n"] for row in rows})
    counts["claimable"] = LabelingItem.objects.filter(
        project=project, status=ItemStatus.QUEUED, coverage__lt=F("target_overlap")
    ).count()
    counts["stuck"] = len(stuck_item_ids(project))
    return counts


def disagreement_answers(flag: Flag) -> list[dict[str, Any]]:
    """Each answer of a disagreement flag: its example, the answer, and who gave it. The flag
    names one example per distinct answer in the order the answers first came in (see
    labeling_outcomes.complete_item), so the answers are matched to examples by that order,
    which still holds after a lead edits the kept example. Reads what selectors.FLAG_MEMBERS
    prefetched; other kinds of flag have none."""
    if flag.kind != FlagKind.DISAGREEMENT:
        return []
    members = sorted(flag.memberships.all(), key=lambda member: member.position)
    item = members[0].example.labeling_item if members else None
    if item is None:
        return []
    groups: dict[str, list[LabelingAssignment]] = {}
    for answer in item.assignments.all():
        if answer.state == AssignmentState.SUBMITTED:
            groups.setdefault(answer_key(flag.project.task_type, answer.output), []).append(answer)
    return [
        {
            "example": member.example_id,
            "output": group[0].output,
            "annotators": [answer.annotator.username if answer.annotator else None for answer in group],
        }
        for member, group in zip(members, groups.values(), strict=False)
    ]
