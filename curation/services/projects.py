"""Writes for projects and their members."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import QuerySet

from curation.dedup.short_texts import filler_list
from curation.errors import ApplicationError, InvalidInput, PermissionDenied
from curation.models import MAX_OVERLAP, LabelingFill, LabelingOrder, Membership, Project, Role, TaskType
from curation.models.projects import default_filler_words
from curation.services.audit import audit, changed
from curation.services.content import refuse_nul, validate_project_settings
from curation.services.guidelines import checked_guidelines, guidelines_record
from curation.services.labeling import retarget_untouched
from curation.services.labeling_order import check_order, priorities_refresh
from curation.services.locks import project_lock

PROJECT_EDITABLE_FIELDS = (
    "name",
    "target_behavior",
    "system_prompt",
    "labels",
    "output_schema",
    "min_gain",
    "reviewers_may_not_review_own",
    "guidelines",
    "labeling_overlap",
    "labeling_overlap_share",
    "labeling_sample_seed",
    "labeling_order",
    "labeling_fill",
    "suggestion_blind_share",
    "filler_words",
    "currency_folds",
)
MAX_FILLER_WORDS, MAX_FILLER_LENGTH = 200, 50
LABELING_FIELDS = ("labeling_overlap", "labeling_overlap_share", "labeling_sample_seed")


def may_create_projects(user: User) -> bool:
    """FINCH_PROJECT_CREATORS: `any` signed-in user (the default) or `staff` only."""
    if not user.is_authenticated:
        return False
    return user.is_staff or settings.FINCH_PROJECT_CREATORS != "staff"


def require_project_creator(user: User) -> None:
    """PermissionDenied naming the rule when the user may not create projects."""
    if not may_create_projects(user):
        raise PermissionDenied(
            "Only staff may create projects here (FINCH_PROJECT_CREATORS=staff); ask an admin."
        )


@transaction.atomic
def project_create(
    *,
    user: User,
    name: str,
    task_type: str,
    target_behavior: str,
    system_prompt: str = "",
    labels: list[str] | None = None,
    output_schema: dict[str, Any] | None = None,
    min_gain: float = 0.0,
    reviewers_may_not_review_own: bool = True,
    guidelines: str = "",
    labeling_overlap: int = 1,
    labeling_overlap_share: float = 1.0,
    labeling_sample_seed: int = 0,
    labeling_order: str = LabelingOrder.ARRIVAL,
    labeling_fill: str = LabelingFill.DEPTH,
    suggestion_blind_share: float = 0.0,
    filler_words: list[str] | None = None,
    currency_folds: bool | None = None,
) -> Project:
    """Create a project with the creator as its lead. Raises InvalidInput for bad settings and
    PermissionDenied when FINCH_PROJECT_CREATORS does not let the user create one."""
    require_project_creator(user)
    clean_labels, clean_schema = validate_project_settings(task_type, labels, output_schema)
    project = Project(
        labeling_overlap=labeling_overlap,
        labeling_overlap_share=labeling_overlap_share,
        labeling_sample_seed=labeling_sample_seed,
        labeling_order=labeling_order,
        labeling_fill=labeling_fill,
        suggestion_blind_share=suggestion_blind_share,
        filler_words=default_filler_words() if filler_words is None else filler_words,
        # An extraction names the amount and its currency: "£1" and "€1" differ there.
        currency_folds=task_type != TaskType.EXTRACTION if currency_folds is None else currency_folds,
        name=_required_text(name, "name"),
        task_type=task_type,
        target_behavior=_required_text(target_behavior, "target_behavior"),
        system_prompt=system_prompt,
        labels=clean_labels,
        output_schema=clean_schema,
        min_gain=min_gain,
        reviewers_may_not_review_own=reviewers_may_not_review_own,
        guidelines=checked_guidelines(guidelines),
        created_by=user,
    )
    _check_labeling_settings(project, order_before=None)
    _check_near_copy_settings(project)
    project.save()
    Membership.objects.create(project=project, user=user, role=Role.LEAD)
    if project.guidelines.strip():
        guidelines_record(project=project, user=user)
    audit(
        project=project,
        actor=user,
        action="project.create",
        target=project,
        summary=f"Created {project.name}",
    )
    return project


def project_update(*, project: Project, user: User | None, changes: dict[str, Any]) -> Project:
    """Change a project's settings (not its task type, which its examples depend on).

    On a refusal the instance is reloaded, so callers never hold the refused settings.
    """
    try:
        return _update(project, user, changes)
    except ApplicationError:
        project.refresh_from_db()
        raise


@transaction.atomic
def _update(project: Project, user: User | None, changes: dict[str, Any]) -> Project:
    before = {field: getattr(project, field) for field in PROJECT_EDITABLE_FIELDS}
    if "task_type" in changes and changes["task_type"] != project.task_type:
        raise InvalidInput(
            "task_type cannot change: the project's examples were validated for it.",
            field="task_type",
        )
    for field in PROJECT_EDITABLE_FIELDS:
        if field in changes:
            setattr(project, field, changes[field])
    project.labels, project.output_schema = validate_project_settings(
        project.task_type, project.labels, project.output_schema
    )
    project.name = _required_text(project.name, "name")
    project.target_behavior = _required_text(project.target_behavior, "target_behavior")
    project.guidelines = checked_guidelines(project.guidelines)
    _check_labeling_settings(project, order_before=before["labeling_order"])
    _check_near_copy_settings(project)
    project.save()
    after = {field: getattr(project, field) for field in PROJECT_EDITABLE_FIELDS}
    if after["guidelines"] != before["guidelines"]:
        guidelines_record(project=project, user=user)
    if any(after[field] != before[field] for field in LABELING_FIELDS):
        retarget_untouched(project)
    if after["labeling_order"] != before["labeling_order"]:
        priorities_refresh(project)
    if difference := changed(before, after):
        summary = f"Changed the project's {', '.join(sorted(difference))}"
        audit(
            project=project,
            actor=user,
            action="project.update",
            target=project,
            summary=summary,
            changes=difference,
        )
    return project


@transaction.atomic
def membership_set(
    *, project: Project, user: User | None, username: str, role: str
) -> tuple[Membership, bool]:
    """Add a member or change their role; returns (membership, created).

    Raises InvalidInput for an unknown role, for a user the caller may not add (one answer for
    unknown and unreachable names, so names cannot be probed) and for taking the last lead.
    """
    if role not in Role.values:
        raise InvalidInput(f"Unknown role {role!r}; use one of {', '.join(Role.values)}.", field="role")
    # Member changes take turns: two leads demoting or removing each other at once would each
    # see the other as the remaining lead and leave none.
    project_lock(project.pk)
    refuse_nul(username, "username")
    membership = Membership.objects.filter(project=project, user__username=username).first()
    if membership is None:
        membership = Membership.objects.create(project=project, user=_addable_user(user, username), role=role)
        _audit_member(membership, user, f"Added {username} as {role}", {"role": (None, role)})
        return membership, True
    if membership.role == Role.LEAD and role != Role.LEAD:
        _ensure_another_lead(project, membership)
    if membership.role != role:
        _audit_member(membership, user, f"Made {username} {role}", {"role": (membership.role, role)})
    membership.role = role
    membership.save(update_fields=["role"])
    return membership, False


@transaction.atomic
def membership_remove(*, project: Project, user: User | None, username: str) -> None:
    """Remove a member; the last lead cannot leave a project without a lead."""
    refuse_nul(username, "username")
    project_lock(project.pk)  # member changes take turns (see membership_set)
    membership = Membership.objects.filter(project=project, user__username=username).first()
    if membership is None:
        raise InvalidInput(f"{username!r} is not a member of this project.", field="username")
    if membership.role == Role.LEAD:
        _ensure_another_lead(project, membership)
    _audit_member(membership, user, f"Removed {username}", {"role": (membership.role, None)})
    membership.delete()


def addable_users(user: User | None) -> QuerySet[User]:
    """The users `user` may add to a project: anyone for staff (and for Finch itself, user None);
    for a lead, people who share a project with them. The one rule for adding by name and for
    the members page's picker (others join through an invitation, which asks for their consent)."""
    users = get_user_model().objects.filter(is_active=True)
    if user is not None and not user.is_staff:
        # Everyone in a project the caller belongs to.
        users = users.filter(pk__in=Membership.objects.filter(project__memberships__user=user).values("user"))
    return users


def _addable_user(user: User | None, username: str) -> User:
    member = addable_users(user).filter(username=username).first()
    if member is None:
        # One answer for unknown names, people the caller shares no project with and people
        # invited who have not signed up yet, so that names cannot be probed.
        raise InvalidInput(
            f"{username!r} cannot be added here: add people who already share a project with you, "
            "or invite them.",
            field="username",
        )
    return member


def _audit_member(
    membership: Membership, user: User | None, summary: str, changes: dict[str, tuple[Any, Any]]
) -> None:
    audit(
        project=membership.project_id,
        actor=user,
        action="member.set" if changes["role"][1] else "member.remove",
        target=membership.user,
        summary=summary,
        changes=changes,
    )


def _ensure_another_lead(project: Project, membership: Membership) -> None:
    others = Membership.objects.filter(project=project, role=Role.LEAD).exclude(pk=membership.pk)
    if not others.exists():
        raise InvalidInput("A project must keep at least one lead.", field="role")


def _check_labeling_settings(project: Project, *, order_before: str | None) -> None:
    overlap, share, seed = (
        project.labeling_overlap,
        project.labeling_overlap_share,
        project.labeling_sample_seed,
    )
    if isinstance(overlap, bool) or not isinstance(overlap, int) or not 1 <= overlap <= MAX_OVERLAP:
        raise InvalidInput(
            f"labeling_overlap must be a whole number from 1 to {MAX_OVERLAP}.", field="labeling_overlap"
        )
    if isinstance(share, bool) or not isinstance(share, int | float) or not 0 < share <= 1:
        raise InvalidInput(
            "labeling_overlap_share must be a number above 0 and at most 1.", field="labeling_overlap_share"
        )
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**31:
        raise InvalidInput(
            "labeling_sample_seed must be a whole number from 0 to 2147483647.", field="labeling_sample_seed"
        )
    blind = project.suggestion_blind_share
    if isinstance(blind, bool) or not isinstance(blind, int | float) or not 0 <= blind <= 1:
        raise InvalidInput(
            "suggestion_blind_share must be a number from 0 to 1.", field="suggestion_blind_share"
        )
    if project.labeling_fill not in LabelingFill.values:
        raise InvalidInput(
            f"labeling_fill must be one of {', '.join(LabelingFill.values)}.", field="labeling_fill"
        )
    check_order(project, order_before)


def _check_near_copy_settings(project: Project) -> None:
    """Filler words: a list of words or phrases, stored folded as texts are (case and
    punctuation set aside), each once."""
    fillers = project.filler_words
    if not isinstance(fillers, list) or not all(isinstance(filler, str) for filler in fillers):
        raise InvalidInput("filler_words must be a list of words or phrases.", field="filler_words")
    if len(fillers) > MAX_FILLER_WORDS:
        raise InvalidInput(f"filler_words holds at most {MAX_FILLER_WORDS} entries.", field="filler_words")
    too_long = next((filler for filler in fillers if len(filler) > MAX_FILLER_LENGTH), None)
    if too_long is not None:
        raise InvalidInput(
            f"Filler {too_long[:20]!r}... is longer than {MAX_FILLER_LENGTH} characters.",
            field="filler_words",
        )
    project.filler_words = filler_list("\n".join(fillers))
    if not isinstance(project.currency_folds, bool):
        raise InvalidInput("currency_folds must be true or false.", field="currency_folds")


def _required_text(value: str, field: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"{field} must not be empty.", field=field)
    return value.strip()
