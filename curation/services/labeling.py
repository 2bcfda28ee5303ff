"""Writes for the labeling queue: queue inputs, hand out the next item, take an answer or a skip.

Handing out is safe under concurrency on both databases: the claim is a conditional UPDATE
(`coverage < target_overlap`) plus a row unique per (item, annotator), so no item is handed out
beyond its overlap and nobody gets an item twice. On PostgreSQL the candidate is picked with
FOR UPDATE SKIP LOCKED, so annotators asking at once take different items instead of queueing
behind one row lock; SQLite runs one writer at a time anyway.

A claim expires after FINCH_LABELING_CLAIM_SECONDS; expired claims are released (their slot
goes back to the queue) before every hand-out and by a periodic task, so none is lost.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import IntegrityError, connection, transaction
from django.db.models import Exists, F, OuterRef, QuerySet
from django.utils import timezone

from curation.errors import Conflict, InvalidInput
from curation.models import (
    AssignmentState,
    ItemStatus,
    LabelingAssignment,
    LabelingItem,
    Project,
)
from curation.models.examples import decode_input
from curation.services.audit import audit
from curation.services.content import ContentRules, content_hash
from curation.services.examples import checked_external_id, checked_metadata
from curation.services.labeling_outcomes import complete_item
from curation.services.overlap_sample import target_overlap, target_overlap_sql

MAX_INPUTS_PER_CALL = 1000
# Candidates tried per hand-out before giving up on a queue that others keep emptying.
CLAIM_ATTEMPTS = 5
REAP_BATCH = 500


@dataclass(frozen=True)
class QueuedInputs:
    created: list[LabelingItem]
    already_queued: int


def claim_lifetime() -> timedelta:
    return timedelta(seconds=settings.FINCH_LABELING_CLAIM_SECONDS)


# -- queueing ------------------------------------------------------------------------------------


@transaction.atomic
def items_enqueue(
    *, project: Project, user: User | None, inputs: Iterable[dict[str, Any]], source: str = "manual"
) -> QueuedInputs:
    """Queue inputs for labeling ({"input", "metadata"?, "external_id"?} each); an input already
    queued in the project is counted, not queued twice. InvalidInput names the first bad one."""
    rows = list(inputs)
    if len(rows) > MAX_INPUTS_PER_CALL:
        raise InvalidInput(f"Queue at most {MAX_INPUTS_PER_CALL} inputs per request.", field="inputs")
    rules = ContentRules.for_project(project, require_output=False)
    items = [_new_item(project, user, rules, row, position, source) for position, row in enumerate(rows)]
    created = _insert_new(project, items)
    if created and user is not None:
        audit(
            project=project,
            actor=user,
            action="labeling.enqueue",
            target=project,
            summary=f"Queued {len(created)} input(s) for labeling ({source})",
        )
    return QueuedInputs(created=created, already_queued=len(items) - len(created))


def _new_item(
    project: Project, user: User | None, rules: ContentRules, row: Any, position: int, source: str
) -> LabelingItem:
    where = f"inputs[{position}]"
    if not isinstance(row, dict):
        raise InvalidInput(f"{where} must be an object with an input.", field="inputs")
    unknown = set(row) - {"input", "metadata", "external_id"}
    if unknown:
        raise InvalidInput(f"{where} has unknown fields: {', '.join(sorted(unknown))}.", field="inputs")
    try:
        stored_input, _ = rules.validate(row.get("input"), "")
        metadata = checked_metadata(row.get("metadata"))
        external_id = checked_external_id(row.get("external_id"))
    except InvalidInput as exc:
        raise InvalidInput(f"{where}: {exc.message}", field="inputs") from exc
    input_hash = content_hash(stored_input, "")
    return LabelingItem(
        project=project,
        input=stored_input,
        input_hash=input_hash,
        metadata=metadata,
        external_id=external_id,
        source=source[:200],
        target_overlap=target_overlap(project, input_hash),
        created_by=user,
    )


def _insert_new(project: Project, items: list[LabelingItem]) -> list[LabelingItem]:
    unique = list({item.input_hash: item for item in items}.values())
    known = set(
        LabelingItem.objects.filter(
            project=project, input_hash__in=[i.input_hash for i in unique]
        ).values_list("input_hash", flat=True)
    )
    fresh = [item for item in unique if item.input_hash not in known]
    try:
        with transaction.atomic():
            return LabelingItem.objects.bulk_create(fresh)
    except IntegrityError as exc:
        raise Conflict(
            "An input was queued by someone else at the same moment, or an external_id is already "
            "used in this project's queue; nothing was queued. Send the request again."
        ) from exc


def retarget_untouched(project: Project) -> int:
    """Give queued items nobody has touched the project's current overlap (after a settings
    change); items in progress keep theirs. How many were changed."""
    expression, params = target_overlap_sql(project, "input_hash")
    untouched = LabelingItem.objects.filter(project=project, status=ItemStatus.QUEUED, coverage=0).exclude(
        Exists(LabelingAssignment.objects.filter(item=OuterRef("pk")))
    )
    ids = list(untouched.values_list("pk", flat=True))
    changed = 0
    table = LabelingItem._meta.db_table
    with connection.cursor() as cursor:
        for start in range(0, len(ids), 10_000):
            chunk = ids[start : start + 10_000]
            marks = ", ".join(["%s"] * len(chunk))
            cursor.execute(
                f"UPDATE {table} SET target_overlap = {expression} WHERE id IN ({marks})", [*params, *chunk]
            )
            changed += cursor.rowcount
    return changed


# -- handing out ---------------------------------------------------------------------------------


def next_assignment(
    *, project: Project, user: User, now: datetime | None = None
) -> LabelingAssignment | None:
    """The user's live claim in the project, else a new claim on the least-covered item they have
    not labeled or skipped; None when the queue has nothing for them."""
    now = now or timezone.now()
    current = live_claim(project=project, user=user, now=now)
    if current is not None:
        return current
    release_expired_claims(now=now, project=project)
    for _ in range(CLAIM_ATTEMPTS):
        with transaction.atomic():
            candidate = _candidate(project, user)
            if candidate is None:
                return None
            claimed = _claim(candidate, user, now)
        if claimed is not None:
            return claimed
    return None


def live_claim(*, project: Project, user: User, now: datetime | None = None) -> LabelingAssignment | None:
    now = now or timezone.now()
    return (
        LabelingAssignment.objects.filter(
            item__project=project, annotator=user, state=AssignmentState.CLAIMED, expires_at__gt=now
        )
        .select_related("item__project")
        .order_by("claimed_at")
        .first()
    )


def open_items(project: Project) -> QuerySet[LabelingItem]:
    """Items with a free slot, in the order the queue hands them out."""
    return LabelingItem.objects.filter(
        project=project, status=ItemStatus.QUEUED, coverage__lt=F("target_overlap")
    ).order_by("coverage", "id")


def _candidate(project: Project, user: User) -> int | None:
    touched = LabelingAssignment.objects.filter(item=OuterRef("pk"), annotator=user)
    candidates = open_items(project).exclude(Exists(touched))
    if connection.features.has_select_for_update_skip_locked:
        candidates = candidates.select_for_update(skip_locked=True)
    return candidates.values_list("pk", flat=True).first()


def _claim(item_id: int, user: User, now: datetime) -> LabelingAssignment | None:
    taken = LabelingItem.objects.filter(
        pk=item_id, status=ItemStatus.QUEUED, coverage__lt=F("target_overlap")
    ).update(coverage=F("coverage") + 1)
    if not taken:
        return None
    try:
        with transaction.atomic():
            assignment = LabelingAssignment.objects.create(
                item_id=item_id,
                annotator=user,
                claimed_at=now,
                expires_at=now + claim_lifetime(),
            )
    except IntegrityError:
        # The same user claimed it in another tab a moment ago; give the slot back.
        LabelingItem.objects.filter(pk=item_id).update(coverage=F("coverage") - 1)
        return None
    return LabelingAssignment.objects.select_related("item__project").get(pk=assignment.pk)


def release_expired_claims(*, now: datetime | None = None, project: Project | None = None) -> int:
    """Give the slots of expired claims back to the queue. How many were released."""
    now = now or timezone.now()
    expired = LabelingAssignment.objects.filter(state=AssignmentState.CLAIMED, expires_at__lte=now)
    if project is not None:
        expired = expired.filter(item__project=project)
    released = 0
    for pk in list(expired.values_list("pk", flat=True)[:REAP_BATCH]):
        with transaction.atomic():
            claim = LabelingAssignment.objects.select_for_update().filter(
                pk=pk, state=AssignmentState.CLAIMED, expires_at__lte=now
            )
            row = claim.values_list("item_id", flat=True).first()
            if row is None:
                continue  # submitted or released meanwhile
            claim.delete()
            LabelingItem.objects.filter(pk=row).update(coverage=F("coverage") - 1)
            released += 1
    return released


# -- answers -------------------------------------------------------------------------------------


def annotation_submit(
    *, item: LabelingItem, user: User, output: Any, now: datetime | None = None
) -> LabelingAssignment:
    """Record the user's answer on an item they hold (or can still take); completes the item
    when it was the last answer it needed. InvalidInput for an answer the project refuses,
    Conflict for an item already answered by the user or with no slot left."""
    now = now or timezone.now()
    project = item.project
    rules = ContentRules.for_project(project, require_output=True)
    _, stored_output = rules.validate(_stored_form_input(item), output)
    with transaction.atomic():
        locked = LabelingItem.objects.select_for_update().select_related("project").get(pk=item.pk)
        assignment = _holding_assignment(locked, user, now)
        assignment.state = AssignmentState.SUBMITTED
        assignment.output = stored_output
        assignment.expires_at = None
        assignment.submitted_at = now
        if assignment.pk is None:  # an answer without a claim, on a free slot
            assignment.save()
        else:
            assignment.save(update_fields=["state", "output", "claimed_at", "expires_at", "submitted_at"])
        locked.annotation_count += 1
        locked.save(update_fields=["annotation_count"])
        if locked.annotation_count >= locked.target_overlap:
            complete_item(locked, now=now)
    return assignment


def _stored_form_input(item: LabelingItem) -> Any:
    return decode_input(item.project.task_type, item.input)


def _holding_assignment(item: LabelingItem, user: User, now: datetime) -> LabelingAssignment:
    """The user's claim on a locked item, taking a free slot when the claim had expired."""
    assignment = LabelingAssignment.objects.filter(item=item, annotator=user).first()
    if assignment is not None and assignment.state == AssignmentState.SUBMITTED:
        raise Conflict(f"You already labeled item {item.pk}.")
    if assignment is not None and assignment.state == AssignmentState.CLAIMED:
        return assignment  # an expired, unreleased claim still holds its slot
    if item.status != ItemStatus.QUEUED or item.coverage >= item.target_overlap:
        raise Conflict(
            f"Item {item.pk} has all the annotations it needs; your claim on it had expired. Take the next item."
        )
    item.coverage += 1
    item.save(update_fields=["coverage"])
    if assignment is None:
        return LabelingAssignment(item=item, annotator=user, claimed_at=now)
    assignment.claimed_at = now  # a skip taken back
    return assignment


def assignment_skip(*, item: LabelingItem, user: User) -> None:
    """Pass on an item: the slot goes back to the queue and the user is not given it again."""
    with transaction.atomic():
        locked = LabelingItem.objects.select_for_update().get(pk=item.pk)
        assignment = LabelingAssignment.objects.filter(item=locked, annotator=user).first()
        if assignment is not None and assignment.state == AssignmentState.SUBMITTED:
            raise Conflict(f"You already labeled item {item.pk}.")
        if locked.status != ItemStatus.QUEUED:
            raise Conflict(f"Item {item.pk} is labeled already ({locked.status}): there is nothing to skip.")
        if assignment is None:
            LabelingAssignment.objects.create(
                item=locked, annotator=user, state=AssignmentState.SKIPPED, claimed_at=timezone.now()
            )
            return
        if assignment.state == AssignmentState.CLAIMED:
            locked.coverage -= 1
            locked.save(update_fields=["coverage"])
        assignment.state = AssignmentState.SKIPPED
        assignment.expires_at = None
        assignment.save(update_fields=["state", "expires_at"])
