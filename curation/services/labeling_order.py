"""The labeling queue's order: each queued item's `priority` by the project's labeling_order
(the queue hands out lower first among equally covered items, NULL last; see
curation.services.labeling).

- arrival: no priority (NULL for all), so items go as they were queued.
- uncertainty: the confidence of the item's latest suggestion (of a succeeded run), least
  confident first, an invalid suggestion before every valid one; items without a suggestion
  after those (NULL). One UPDATE.
- novelty: the item's highest cosine similarity to the latest frozen version's train inputs
  (embedding cache), least similar first. Embedding takes a worker: a task on the default queue,
  for every queued item when the lead picks the order (or a version is frozen), for the new
  items when inputs are queued.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from django.db import transaction
from django.db.models import Case, F, FloatField, OuterRef, QuerySet, Subquery, Value, When

from curation.errors import InvalidInput
from curation.models import (
    DatasetVersion,
    ItemStatus,
    JobStatus,
    LabelingItem,
    LabelingOrder,
    Project,
    Split,
    Suggestion,
    VersionStatus,
)
from curation.services.dispatch import send_on_commit

if TYPE_CHECKING:
    from evaluation.models import SuggestionRun

log = logging.getLogger(__name__)

# An invalid suggestion's place in the "least confident first" order: before every valid one.
INVALID_PRIORITY = -1.0e9
NOVELTY_CHUNK = 2000  # queued items embedded and written at a time


def queued_items(project: Project) -> QuerySet[LabelingItem]:
    return LabelingItem.objects.filter(project=project, status=ItemStatus.QUEUED)


def check_order(project: Project, before: str | None) -> None:
    """InvalidInput naming labeling_order for an unknown order, or novelty (newly chosen) in a
    project without a frozen version to measure it against."""
    if project.labeling_order not in LabelingOrder.values:
        raise InvalidInput(
            f"labeling_order must be one of {', '.join(LabelingOrder.values)}.", field="labeling_order"
        )
    if (
        project.labeling_order == LabelingOrder.NOVELTY
        and before != LabelingOrder.NOVELTY
        and (project.pk is None or latest_frozen_version(project) is None)  # a new project has none
    ):
        raise InvalidInput(
            "labeling_order novelty measures each input against the latest frozen version's train "
            "inputs, and this project has no frozen version yet: freeze one first.",
            field="labeling_order",
        )


def latest_frozen_version(project: Project) -> DatasetVersion | None:
    return (
        DatasetVersion.objects.filter(project=project, status=VersionStatus.FROZEN)
        .order_by("-number")
        .first()
    )


def priorities_refresh(project: Project) -> int | None:
    """Set every queued item's priority by the project's order: at once for arrival and
    uncertainty (how many items changed), on a worker after this transaction for novelty (None)."""
    if project.labeling_order == LabelingOrder.UNCERTAINTY:
        return priorities_from_suggestions(project)
    if project.labeling_order == LabelingOrder.NOVELTY:
        novelty_schedule(project, only_new=False)
        return None
    return queued_items(project).exclude(priority=None).update(priority=None)


def priorities_from_suggestions(project: Project, run: SuggestionRun | None = None) -> int:
    """Least confident first: each queued item's priority becomes the confidence of its latest
    suggestion (an invalid one first of all), NULL without one. Only the run's items when a
    run is given. One UPDATE."""
    items = queued_items(project)
    if run is not None:
        items = items.filter(pk__in=Suggestion.objects.filter(run=run).values("item_id"))
    latest = (
        Suggestion.objects.filter(item=OuterRef("pk"), run__status=JobStatus.SUCCEEDED)
        .order_by("-run_id")
        .annotate(
            rank=Case(
                When(valid=True, then=F("confidence")),
                default=Value(INVALID_PRIORITY),
                output_field=FloatField(),
            )
        )
        .values("rank")[:1]
    )
    return items.update(priority=Subquery(latest))


def novelty_schedule(project: Project, *, only_new: bool) -> None:
    """Queue the novelty task once the current transaction commits (at once outside one)."""
    from curation.tasks import labeling_novelty  # the task module imports this one

    project_id = project.pk
    send_on_commit(
        lambda: labeling_novelty.delay(project_id, only_new), what=f"project {project_id}'s novelty order"
    )


def novelty_after_queueing(project: Project) -> None:
    """New items joined the queue: rank them when the project orders by novelty."""
    if project.labeling_order == LabelingOrder.NOVELTY:
        novelty_schedule(project, only_new=True)


def novelty_priorities(project_id: int, *, only_new: bool) -> int:
    """The task's body: each queued item's priority becomes its highest cosine to the latest
    frozen version's train inputs (lower: more novel, first); with `only_new`, items without a
    priority only. Nothing is written once the order is no longer novelty. How many were set."""
    from curation.dedup.embeddings import nearest_similarity
    from curation.services.embedding_cache import cached_vectors, fast_available, reference_inputs

    project = Project.objects.get(pk=project_id)
    version = latest_frozen_version(project)
    if project.labeling_order != LabelingOrder.NOVELTY or version is None:
        return 0
    items = queued_items(project)
    if only_new:
        items = items.filter(priority=None)
    ids = list(items.order_by("id").values_list("pk", flat=True))
    if not ids:
        return 0
    fast = fast_available()
    train = cached_vectors(reference_inputs(version.pk, Split.TRAIN), fast=fast)
    written = 0
    for start in range(0, len(ids), NOVELTY_CHUNK):
        chunk = list(LabelingItem.objects.filter(pk__in=ids[start : start + NOVELTY_CHUNK]).order_by("id"))
        vectors = cached_vectors([item.input for item in chunk], fast=fast)
        similarity = nearest_similarity(vectors, train) if len(train) else [-1.0] * len(chunk)
        for item, value in zip(chunk, similarity, strict=True):
            item.priority = float(value)
        if not _write_if_still_novelty(project_id, chunk):
            log.info("project %s no longer orders by novelty; stopped after %s items", project_id, written)
            return written
        written += len(chunk)
    log.info(
        "novelty priorities of %s queued items of project %s (version %s)", written, project_id, version.pk
    )
    return written


def _write_if_still_novelty(project_id: int, chunk: list[LabelingItem]) -> bool:
    # The project's row lock orders this write with a settings change: a lead who switched to
    # another order meanwhile has the last word.
    with transaction.atomic():
        still = (
            Project.objects.select_for_update()
            .filter(pk=project_id, labeling_order=LabelingOrder.NOVELTY)
            .exists()
        )
        if still:
            LabelingItem.objects.bulk_update(chunk, ["priority"], batch_size=500)
    return still


def novelty_pending(project: Project) -> int:
    """Queued items without a novelty priority yet (the task ranks them); 0 in other orders."""
    if project.labeling_order != LabelingOrder.NOVELTY:
        return 0
    return queued_items(project).filter(priority=None).count()
