"""Undo of a reviewer's own last decision, while nobody has changed the example since."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.db import transaction

from curation.errors import Conflict, InvalidInput
from curation.models import Example, ExampleRevision, Review
from curation.services.audit import audit
from curation.services.examples import check_revision, example_set_status


@transaction.atomic
def example_review_undo(*, example: Example, user: User, revision: int | None) -> Example:
    """Put the example back to its status before `user`'s last decision on it, as a new revision
    (the review and the history stay). Raises InvalidInput when the example's last change is not
    that user's decision, Conflict when `revision` is not the current one."""
    example = Example.objects.select_for_update().get(pk=example.pk)
    check_revision(example, revision)
    review = example.reviews.order_by("-id").first()
    if review is None or review.reviewer_id != user.pk:
        raise InvalidInput("Only your own last decision on this example can be undone.")
    if example.last_change != "reviewed" or example.revision != review.revision + 1:
        raise Conflict("This example changed after your decision, so it can no longer be undone.")
    before = _status_before(example, review)
    decided = example.status
    example_set_status(example=example, user=user, status=before, change="review_undone")
    audit(
        project=example.project_id,
        actor=user,
        action="review.undo",
        target=example,
        summary=f"Undid the review of example {example.pk}: back to {example.get_status_display().lower()}",
        changes={"status": (decided, before)},
    )
    return example


def _status_before(example: Example, review: Review) -> str:
    """The status of the revision the reviewer judged (kept in the history by the decision)."""
    judged = ExampleRevision.objects.filter(example=example, revision=review.revision).first()
    if judged is None:
        raise Conflict("The revision this decision judged is not in the history; it cannot be undone.")
    return judged.status
