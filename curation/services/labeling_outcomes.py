"""What a labeling-queue item becomes once it has all its annotations.

- One answer, or answers that agree (equal label; equal JSON for extraction; equal text): one
  submitted example.
- Classification or extraction answers that differ: one submitted example per distinct answer,
  all in a disagreement flag, which keeps each of them out of every version until a lead
  resolves it (keep one, edited or not, or reject them all).
- Generation or chat answers that differ: alternatives, each a submitted example; reviewers see
  them side by side.

Every example keeps a link to its item, and through it to every annotator and their answer,
and the model suggestion its answers had with what they did with it (suggestion_use.example_use).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from django.db import IntegrityError, transaction

from curation.models import (
    AssignmentState,
    Example,
    ExampleStatus,
    FlagKind,
    ItemStatus,
    LabelingAssignment,
    LabelingItem,
    TaskType,
)
from curation.services.content import answer_key, clip, content_hash
from curation.services.flags import flag_create
from curation.services.suggestion_use import example_use

LABELING_JOB = "labeling"


def complete_item(item: LabelingItem, *, now: datetime) -> list[Example]:
    """Turn a (locked) item with all its annotations into examples; returns them."""
    answers = list(
        LabelingAssignment.objects.filter(item=item, state=AssignmentState.SUBMITTED)
        .select_related("suggestion")
        .order_by("submitted_at", "id")
    )
    groups: dict[str, list[LabelingAssignment]] = defaultdict(list)
    for answer in answers:
        groups[answer_key(item.project.task_type, answer.output)].append(answer)
    examples = [_example_for(item, group) for group in groups.values()]
    item.status = _outcome(item, len(groups))
    item.completed_at = now
    item.save(update_fields=["status", "completed_at"])
    if item.status == ItemStatus.DISAGREED:
        flag_create(
            project=item.project,
            user=None,
            kind=FlagKind.DISAGREEMENT,
            example_ids=[example.pk for example in examples],
            note=_disagreement_note(item, groups),
            job=LABELING_JOB,
        )
    return examples


def _outcome(item: LabelingItem, distinct_answers: int) -> str:
    if distinct_answers <= 1:
        return ItemStatus.AGREED
    if item.project.task_type in (TaskType.GENERATION, TaskType.CHAT):
        return ItemStatus.ALTERNATIVES
    return ItemStatus.DISAGREED


def _example_for(item: LabelingItem, group: list[LabelingAssignment]) -> Example:
    """A submitted example with the group's answer, or the project's identical example."""
    first = group[0]
    use = example_use(item.project.task_type, first.output, group)
    digest = content_hash(item.input, first.output)
    existing = Example.objects.filter(project_id=item.project_id, content_hash=digest).first()
    if existing is not None:
        if existing.labeling_item_id is None:
            Example.objects.filter(pk=existing.pk).update(labeling_item=item)
        return existing
    example = Example(
        project_id=item.project_id,
        input=item.input,
        output=first.output,
        metadata=item.metadata,
        external_id=item.external_id if _external_id_free(item) else None,
        content_hash=digest,
        status=ExampleStatus.SUBMITTED,
        last_change="labeled",
        source=item.source,
        created_by_id=first.annotator_id,
        updated_by_id=first.annotator_id,
        labeling_item=item,
        suggestion=use.suggestion,
        suggestion_use=use.use,
    )
    try:
        with transaction.atomic():
            example.save()
    except IntegrityError:
        example.external_id = None  # taken by the other answer of this item, or meanwhile
        example.save()
    return example


def _external_id_free(item: LabelingItem) -> bool:
    if item.external_id is None:
        return False
    return not Example.objects.filter(project_id=item.project_id, external_id=item.external_id).exists()


def _disagreement_note(item: LabelingItem, groups: dict[str, list[LabelingAssignment]]) -> str:
    parts = [f"{clip(group[0].output)!r} from {len(group)}" for group in groups.values()]
    return f"Annotators disagree on labeling item {item.pk}: " + "; ".join(parts) + "."
