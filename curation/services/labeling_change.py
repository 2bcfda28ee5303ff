"""An annotator changes their own answer while the item still waits for others' answers.

A mislabel caught a moment later (a wrong key pressed) should not have to wait for a reviewer
to settle the disagreement it causes, nor, with an overlap of 1, go unnoticed. Until the item has
all its answers, each answer is only its annotator's, so they may change it. Once the item is
labeled its answers have become examples: those are edited, reviewed and flagged as examples.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.db import transaction

from curation.errors import Conflict
from curation.models import AssignmentState, ItemStatus, LabelingAssignment, LabelingItem
from curation.services.audit import audit
from curation.services.content import clip
from curation.services.labeling import valid_answer
from curation.services.suggestion_use import use_of


def annotation_change(*, item: LabelingItem, user: User, output: Any) -> LabelingAssignment:
    """Replace the user's answer on a queued item; what the new answer did with the suggestion
    the first one saw is recorded again. InvalidInput for an answer the project refuses,
    Conflict when the user has not answered the item or it is no longer queued."""
    project = item.project
    stored_output = valid_answer(item, output)
    with transaction.atomic():
        locked = LabelingItem.objects.select_for_update().get(pk=item.pk)  # completion takes it too
        answer = (
            LabelingAssignment.objects.select_related("suggestion")
            .filter(item=locked, annotator=user, state=AssignmentState.SUBMITTED)
            .first()
        )
        if answer is None:
            raise Conflict(f"You have not answered item {item.pk}: there is no answer of yours to change.")
        if locked.status != ItemStatus.QUEUED:
            raise Conflict(
                f"Item {item.pk} is {locked.get_status_display().lower()}: its answers are examples now; "
                "edit your example instead."
            )
        before = answer.output
        answer.output = stored_output
        if answer.suggestion is not None and answer.suggestion_shown:
            answer.suggestion_use = use_of(project.task_type, answer.suggestion.output, stored_output)
        answer.save(update_fields=["output", "suggestion_use"])
        summary = f"Changed the answer to labeling item {item.pk}: {clip(before, 60)!r} -> {clip(stored_output, 60)!r}"
        audit(
            project=project, actor=user, action="labeling_item.answer_change", target=locked, summary=summary
        )
    return answer
