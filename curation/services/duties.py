"""Separation of duties in review: with the project's `reviewers_may_not_review_own` on (the
default), a reviewer may not approve or reject an example they wrote or last edited (nor write
one as approved or rejected, nor keep approved content approved by editing it), and their review
queue skips such examples. Leads may; a self-review by anyone is marked in the audit log.

Requesting changes stays open to everyone: it approves nothing."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.db.models import BigIntegerField, Case, F, OuterRef, Q, QuerySet, Subquery, When
from django.db.models.functions import Coalesce

from curation.errors import PermissionDenied
from curation.models import Example, ExampleRevision, ExampleStatus, Project, ReviewDecision, Role
from curation.roles import has_role, role_of

JUDGING = (ReviewDecision.APPROVE, ReviewDecision.REJECT)
JUDGED_STATUSES = (ExampleStatus.APPROVED, ExampleStatus.REJECTED)
# Changes that only set a status after judging the content, or take a judgement back: they
# leave its editor as it was (an undone review does not make the reviewer its author).
JUDGEMENTS = ("reviewed", "flag_resolved", "review_undone")
RULE = (
    "Separation of duties: you wrote or last edited this example, so another reviewer or a lead "
    "must approve or reject it (project setting reviewers_may_not_review_own)."
)


def check_review(*, example: Example, user: User, decision: str) -> bool:
    """Whether this decision is a self-review; PermissionDenied when the project forbids it."""
    if decision not in JUDGING or not is_own_work(example, user):
        return False
    if bound_by_rule(example.project, user):
        raise PermissionDenied(RULE, field="decision")
    return True


def check_create(*, project: Project, user: User, status: str) -> None:
    """Writing an example as approved or rejected is judging one's own work: PermissionDenied
    where the rule holds for the user."""
    if status in JUDGED_STATUSES and bound_by_rule(project, user):
        raise PermissionDenied(
            f"Separation of duties: your examples cannot start as {status}; submit them for another "
            "reviewer or a lead (project setting reviewers_may_not_review_own).",
            field="status",
        )


def may_keep_approval(project: Project, user: User) -> bool:
    """Whether the user's edit of approved content keeps it approved (a reviewer's or lead's,
    unless the rule sends a reviewer's edit back for another's review)."""
    return has_role(role_of(user, project), Role.REVIEWER) and not bound_by_rule(project, user)


def bound_by_rule(project: Project, user: User) -> bool:
    """Whether the rule holds for this user here: on, and the user is below lead."""
    return project.reviewers_may_not_review_own and role_of(user, project) != Role.LEAD


def is_own_work(example: Example, user: User) -> bool:
    """Whether the user wrote the example or made its latest edit."""
    if example.created_by_id == user.pk:
        return True
    if example.last_change not in JUDGEMENTS:
        return example.updated_by_id == user.pk
    return _earlier_editor(example.pk) == user.pk


def without_own_work(examples: QuerySet[Example], *, skip_own_of: User | None) -> QuerySet[Example]:
    """The examples minus those `skip_own_of` wrote or last edited (all for None): a review
    queue passes its user where `bound_by_rule`."""
    if skip_own_of is None:
        return examples
    editor = Case(
        When(~Q(last_change__in=JUDGEMENTS), then=F("updated_by_id")),
        default=Subquery(_editors().filter(example=OuterRef("pk")).values("changed_by_id")[:1]),
        output_field=BigIntegerField(),
    )
    last_editor = Coalesce(editor, 0, output_field=BigIntegerField())
    return (
        examples.annotate(last_editor=last_editor)
        .exclude(created_by=skip_own_of)
        .exclude(last_editor=skip_own_of.pk)
    )


def _earlier_editor(example_id: int) -> int | None:
    return _editors().filter(example_id=example_id).values_list("changed_by_id", flat=True).first()


def _editors() -> QuerySet[ExampleRevision]:
    """Kept revisions that changed content, newest first: who made each is its `changed_by`."""
    return ExampleRevision.objects.exclude(change__in=JUDGEMENTS).order_by("-revision")
