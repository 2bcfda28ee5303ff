"""Every annotation behind exported rows, for teams that train on soft labels or measure their
annotators elsewhere: a row whose example came from the labeling queue gets `annotations`, each
annotator's answer. Read a batch of rows at a time (one query per batch, never per row), so an
export keeps its constant memory."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from itertools import islice
from typing import Any, TypeVar

from curation.models import AssignmentState, Example, LabelingAssignment

BATCH_ROWS = 2000
Row = TypeVar("Row")


def annotations_by_item(item_ids: Iterable[int]) -> dict[int, list[dict[str, Any]]]:
    """Each item's submitted answers, in the order they came in."""
    answers = (
        LabelingAssignment.objects.filter(item_id__in=list(item_ids), state=AssignmentState.SUBMITTED)
        .order_by("item_id", "submitted_at", "id")
        .values_list("item_id", "annotator__username", "output", "submitted_at")
    )
    found: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for item_id, annotator, output, submitted_at in answers:
        found[item_id].append({"annotator": annotator, "output": output, "submitted_at": _iso(submitted_at)})
    return found


def batched(rows: Iterable[Row], size: int = BATCH_ROWS) -> Iterator[list[Row]]:
    iterator = iter(rows)
    while batch := list(islice(iterator, size)):
        yield batch


def with_annotations(
    rows: Iterable[Row],
    item_of: Callable[[Row], int | None],
    attach: Callable[[Row, list[dict[str, Any]] | None], Row],
) -> Iterator[Row]:
    """Each row passed through `attach` with the answers of its labeling item (`item_of`), or
    None for a row that has no item."""
    for batch in batched(rows):
        items = [item_of(row) for row in batch]
        answers = annotations_by_item({item for item in items if item is not None})
        for row, item in zip(batch, items, strict=True):
            yield attach(row, None if item is None else answers.get(item, []))


def items_of_examples(example_ids: Iterable[int]) -> dict[int, int]:
    """example id -> its labeling item, for the examples that came from the queue."""
    rows = Example.objects.filter(pk__in=list(example_ids), labeling_item__isnull=False)
    return dict(rows.values_list("pk", "labeling_item_id"))


def _iso(moment: datetime | None) -> str | None:
    """ISO 8601 as the API writes it (UTC as `Z`); a submitted answer always has its time."""
    return moment.isoformat().replace("+00:00", "Z") if moment is not None else None
