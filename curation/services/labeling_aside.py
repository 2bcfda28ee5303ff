"""A lead's decisions on inputs the queue cannot finish: set them aside, or put them back.

An input every annotator skips (none of the labels fit, it is broken, it is off-topic) would wait
in the queue for ever, short of its annotations, and keep the queue from reaching its end. A lead
sets it aside: it leaves the queue (no hand-out, no suggestions, no ordering), keeps the answers
and skips it had, and frees the claims on it (an answer to such a claim is refused, saying why).
Put back, it is queued again for everyone: the skips are dropped, since the reason for them is
usually what the lead changed (a label added, the guidelines made clearer). A queued input can be
put back so too, for those who skipped it.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import F

from curation.errors import Conflict, InvalidInput
from curation.models import AssignmentState, ItemStatus, LabelingAssignment, LabelingItem, Project
from curation.services.audit import audit

MAX_ITEMS_PER_CALL = 1000


def items_set_aside(*, project: Project, user: User, item_ids: Iterable[int]) -> list[int]:
    """Take queued items out of the queue; the ids set aside. Conflict names an item that is not
    queued (labeled already, or set aside)."""
    return _moved(project, user, item_ids, (ItemStatus.QUEUED,), ItemStatus.SET_ASIDE)


def items_requeue(*, project: Project, user: User, item_ids: Iterable[int]) -> list[int]:
    """Queue items set aside (or queued ones) again, for everyone: their skips are dropped; the
    ids queued. Conflict names an item that is labeled already."""
    return _moved(project, user, item_ids, (ItemStatus.SET_ASIDE, ItemStatus.QUEUED), ItemStatus.QUEUED)


def _moved(
    project: Project, user: User, item_ids: Iterable[int], before: tuple[str, ...], after: str
) -> list[int]:
    wanted = sorted(set(item_ids))
    if not wanted:
        raise InvalidInput("items: name at least one labeling item.", field="items")
    if len(wanted) > MAX_ITEMS_PER_CALL:
        raise InvalidInput(f"items: at most {MAX_ITEMS_PER_CALL} a call.", field="items")
    with transaction.atomic():
        items = list(
            LabelingItem.objects.select_for_update().filter(project=project, pk__in=wanted).order_by("pk")
        )
        _check(wanted, items, before)
        ids = [item.pk for item in items]
        if after == ItemStatus.SET_ASIDE:
            # Their claims end here (their slots with them); the answers and skips stay.
            LabelingAssignment.objects.filter(item_id__in=ids, state=AssignmentState.CLAIMED).delete()
            LabelingItem.objects.filter(pk__in=ids).update(status=after, coverage=F("annotation_count"))
            verb, action = "Set aside", "labeling_item.set_aside"
        else:  # a queued item keeps its live claims, and the slots they hold
            LabelingAssignment.objects.filter(item_id__in=ids, state=AssignmentState.SKIPPED).delete()
            LabelingItem.objects.filter(pk__in=ids).update(status=after)
            verb, action = "Put back in the labeling queue", "labeling_item.requeue"
        summary = f"{verb} {_counted(ids)}"
        audit(project=project, actor=user, action=action, target=items[0], summary=summary)
    return ids


def _check(wanted: list[int], items: list[LabelingItem], before: tuple[str, ...]) -> None:
    found = {item.pk for item in items}
    if missing := [pk for pk in wanted if pk not in found]:
        raise InvalidInput(f"items: no labeling item {missing[0]} in this project.", field="items")
    if other := next((item for item in items if item.status not in before), None):
        allowed = (
            "queued items can be set aside"
            if ItemStatus.SET_ASIDE not in before
            else "items not yet labeled can be put back"
        )
        raise Conflict(f"Item {other.pk} is {other.get_status_display().lower()}: only {allowed}.")


def _counted(ids: list[int]) -> str:
    shown = ", ".join(str(pk) for pk in ids[:10])
    more = f" and {len(ids) - 10} more" if len(ids) > 10 else ""
    return f"labeling item {shown}" if len(ids) == 1 else f"{len(ids)} labeling items ({shown}{more})"
