"""Reads of where a labeled example came from: its queue item's annotations (who answered
what), the alternatives beside it, and the answers of a disagreement flag with who gave each.

Only items that are no longer queued have examples, so nothing here shows an annotator's answer
while others are still labeling the item.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from curation.models import AssignmentState, Example, ItemStatus, LabelingAssignment
from curation.services.labeling_outcomes import answer_key

REMOVED_USER = "a removed user"


@dataclass(frozen=True)
class Provenance:
    annotations: list[LabelingAssignment] = field(default_factory=list)
    # Generation and chat: the other answers to the same input, reviewed side by side.
    alternatives: list[Example] = field(default_factory=list)


@dataclass(frozen=True)
class Answer:
    example: Example
    annotators: list[str]


def example_provenance(example: Example) -> Provenance:
    """The annotations of the example's item and, for alternatives, its sibling examples."""
    item = example.labeling_item
    if item is None:
        return Provenance()
    annotations = list(
        LabelingAssignment.objects.filter(item=item, state=AssignmentState.SUBMITTED)
        .select_related("annotator")
        .order_by("submitted_at", "id")
    )
    alternatives: list[Example] = []
    if item.status == ItemStatus.ALTERNATIVES:
        alternatives = list(
            Example.objects.filter(labeling_item=item)
            .exclude(pk=example.pk)
            .select_related("project")
            .order_by("id")
        )
    return Provenance(annotations=annotations, alternatives=alternatives)


def flag_answers(examples: list[Example]) -> list[Answer]:
    """Each example of a disagreement flag with the annotators whose answer it holds (an answer
    edited since, on resolving, is matched by nobody)."""
    if not examples:
        return []
    task_type = examples[0].project.task_type
    item_ids = {example.labeling_item_id for example in examples if example.labeling_item_id}
    given: dict[tuple[int, str], list[str]] = defaultdict(list)
    for assignment in LabelingAssignment.objects.filter(
        item_id__in=item_ids, state=AssignmentState.SUBMITTED
    ).select_related("annotator"):
        name = assignment.annotator.username if assignment.annotator else REMOVED_USER
        given[(assignment.item_id, answer_key(task_type, assignment.output))].append(name)
    return [
        Answer(example, given.get((example.labeling_item_id or 0, answer_key(task_type, example.output)), []))
        for example in examples
    ]
