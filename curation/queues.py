"""Reads behind the annotator and reviewer work pages: queues, dashboards, keyset pages."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import User
from django.db.models import Exists, F, OuterRef, QuerySet, Subquery

from curation.errors import NotFound
from curation.labeling_selectors import skipped_by_someone
from curation.models import (
    Example,
    ExampleStatus,
    Flag,
    FlagKind,
    FlagStatus,
    ItemStatus,
    LabelingAssignment,
    LabelingItem,
    Project,
    Review,
)
from curation.selectors import project_status_counts
from curation.services.duties import without_own_work
from curation.services.labeling import open_items

PAGE_SIZE = 50
QUEUE_COUNT_CAP = 1000
MY_WORK_STATUSES = (ExampleStatus.DRAFT, ExampleStatus.NEEDS_CHANGES)


@dataclass(frozen=True)
class Dashboard:
    counts: dict[str, int]
    open_flags: int
    duplicates: int
    my_drafts: int
    my_sent_back: int
    to_label: int  # queued items with a slot the user may take

    @property
    def to_review(self) -> int:
        return self.counts[ExampleStatus.SUBMITTED]

    @property
    def labelled_counts(self) -> list[tuple[str, str, int]]:
        """(status, its label for people, count) in the statuses' order."""
        return [(value, str(label).lower(), self.counts[value]) for value, label in ExampleStatus.choices]


def dashboard(*, project: Project, user: User) -> Dashboard:
    mine = project.examples.filter(created_by=user)
    return Dashboard(
        counts=project_status_counts(project),
        open_flags=project.flags.filter(status=FlagStatus.OPEN).count(),
        duplicates=project.examples.filter(duplicate_of__isnull=False).count(),
        my_drafts=mine.filter(status=ExampleStatus.DRAFT).count(),
        my_sent_back=mine.filter(status=ExampleStatus.NEEDS_CHANGES).count(),
        to_label=labeling_queue_size(project=project, user=user),
    )


def review_neighbour(
    *, project: Project, skip_own_of: User | None, after: int | None = None, before: int | None = None
) -> Example | None:
    """The next submitted example after an id (or the first), or the one before an id; without
    the work of `skip_own_of` (see curation/services/duties.py)."""
    queue = _review_queue(project, skip_own_of).select_related("project", "created_by", "suggestion__run")
    if before is not None:
        return queue.filter(id__lt=before).order_by("-id").first()
    if after is not None:
        queue = queue.filter(id__gt=after)
    return queue.order_by("id").first()


def queue_size(*, project: Project, skip_own_of: User | None, cap: int = QUEUE_COUNT_CAP) -> int:
    """How many examples wait for review, counted up to `cap` (so it stays fast at any size)."""
    return _review_queue(project, skip_own_of)[:cap].count()


def _review_queue(project: Project, skip_own_of: User | None) -> QuerySet[Example]:
    submitted = project.examples.filter(status=ExampleStatus.SUBMITTED)
    return without_own_work(submitted, skip_own_of=skip_own_of)


def my_work(*, project: Project, user: User) -> QuerySet[Example]:
    """The user's drafts and the examples sent back to them, each with the last review comment."""
    last_comment = Review.objects.filter(example=OuterRef("pk")).order_by("-id").values("comment")[:1]
    return (
        project.examples.filter(created_by=user, status__in=MY_WORK_STATUSES)
        .select_related("project")
        .annotate(last_comment=Subquery(last_comment))
        .order_by("-updated_at", "-id")
    )


@dataclass(frozen=True)
class Page:
    rows: list[Any]
    next_before: int | None


def keyset_page(rows_of: QuerySet[Any], *, before: int | None, size: int = PAGE_SIZE) -> Page:
    """Newest first, `size` at a time, continuing below an id: fast at any depth, no COUNT
    (examples, labeling items: any model with an integer id)."""
    if before is not None:
        rows_of = rows_of.filter(id__lt=before)
    rows = list(rows_of.order_by("-id")[: size + 1])
    more = len(rows) > size
    return Page(rows=rows[:size], next_before=rows[size - 1].pk if more else None)


# -- the labeling queue ---------------------------------------------------------------------------


def labeling_queue_size(*, project: Project, user: User | None = None, cap: int = QUEUE_COUNT_CAP) -> int:
    """How many queued items have a free slot (for `user`: ones they have not labeled or
    skipped), counted up to `cap`."""
    items = open_items(project).order_by()  # the count is the same in any order (labeling_fill)
    if user is not None:
        items = items.exclude(Exists(LabelingAssignment.objects.filter(item=OuterRef("pk"), annotator=user)))
    return items[:cap].count()


def own_assignment(*, project: Project, user: User, item_id: int) -> LabelingAssignment:
    """The user's own assignment on an item of the project; NotFound for any other item (an
    annotator reads only their own answer)."""
    assignment = (
        LabelingAssignment.objects.filter(item__project=project, item_id=item_id, annotator=user)
        .select_related("item__project")
        .first()
    )
    if assignment is None:
        raise NotFound(f"You have no answer or claim on item {item_id} in this project.")
    return assignment


# The queue page's views of its items (`?show=`): all of them, or one kind.
LABELING_ITEM_VIEWS = {
    "": "All",
    "waiting": "Waiting",
    "skipped": "Skipped by someone",
    "stuck": "Nobody can take",
    "set_aside": "Set aside",
}


def labeling_items(
    project: Project, show: str = "", *, stuck: list[int] | None = None
) -> QuerySet[LabelingItem]:
    """The project's queued and labeled inputs, for the leads' queue page (newest first): all, or
    one of LABELING_ITEM_VIEWS (`stuck`: the ids labeling_selectors.stuck_item_ids gave)."""
    items = LabelingItem.objects.filter(project=project).select_related("created_by")
    if show == "waiting":
        return items.filter(status=ItemStatus.QUEUED)
    if show == "skipped":
        return items.filter(skipped_by_someone(), status=ItemStatus.QUEUED)
    if show == "stuck":
        return items.filter(pk__in=stuck or [])
    if show == "set_aside":
        return items.filter(status=ItemStatus.SET_ASIDE)
    return items


def with_disagreement_flags(items: list[LabelingItem]) -> list[LabelingItem]:
    """The items, each disagreeing one given `disagreement_flag`: the flag its answers raised
    (open, or resolved since), so the queue page links it; one query for a page."""
    by_item: dict[int, Flag] = {}
    if disagreed := [item.pk for item in items if item.status == ItemStatus.DISAGREED]:
        flags = Flag.objects.filter(
            kind=FlagKind.DISAGREEMENT, memberships__example__labeling_item_id__in=disagreed
        ).annotate(item_id=F("memberships__example__labeling_item_id"))
        by_item = {flag.item_id: flag for flag in flags.order_by("id")}  # the latest an item's
    for item in items:
        item.disagreement_flag = by_item.get(item.pk)  # type: ignore[attr-defined]
    return items
