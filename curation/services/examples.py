"""Writes for examples: create, edit with optimistic concurrency, review. Every change is kept."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from curation.errors import ApplicationError, Conflict, InvalidInput, PermissionDenied
from curation.models import (
    Example,
    ExampleRevision,
    ExampleStatus,
    Flag,
    FlagExample,
    FlagKind,
    FlagResolution,
    FlagStatus,
    Project,
    Review,
    ReviewDecision,
    Role,
)
from curation.roles import has_role, role_of
from curation.services import duties
from curation.services.audit import audit, changed
from curation.services.content import ContentRules, content_hash, refuse_nul_json, storable_json
from curation.services.suggestion_use import draft_use

# Statuses an author sets; the others come from reviews.
AUTHOR_STATUSES = (ExampleStatus.DRAFT, ExampleStatus.SUBMITTED)
DECISION_STATUS = {
    ReviewDecision.APPROVE: ExampleStatus.APPROVED,
    ReviewDecision.REJECT: ExampleStatus.REJECTED,
    ReviewDecision.REQUEST_CHANGES: ExampleStatus.NEEDS_CHANGES,
}
MAX_METADATA_KEYS = 200


@transaction.atomic
@transaction.atomic
def example_create(
    *,
    project: Project,
    user: User,
    input: Any,
    output: Any = "",
    metadata: dict[str, Any] | None = None,
    external_id: str | None = None,
    status: str = ExampleStatus.DRAFT,
    source: str = "manual",
) -> Example:
    """Create a validated example. Raises InvalidInput for bad content or an identical example."""
    check_initial_status(project, user, status)
    stored_input, stored_output = _validated(project, input, output, status)
    example = Example(
        project=project,
        input=stored_input,
        output=stored_output,
        metadata=checked_metadata(metadata),
        external_id=checked_external_id(external_id),
        content_hash=content_hash(stored_input, stored_output),
        status=status,
        source=source,
        created_by=user,
        updated_by=user,
    )
    _refuse_identical(example)
    _save_unique(example.save, example)
    summary = f"Wrote example {example.pk} ({status})"
    audit(project=project, actor=user, action="example.create", target=example, summary=summary)
    return example


@transaction.atomic
def example_update(*, example: Example, user: User, revision: int | None, changes: dict[str, Any]) -> Example:
    """Edit an example if `revision` is still current (else Conflict); keeps the old content.

    On any refusal the instance is reloaded, so callers never hold the refused version.
    """
    try:
        return _update(example, user, revision, changes)
    except ApplicationError:
        example.refresh_from_db()
        raise


def _update(example: Example, user: User, revision: int | None, changes: dict[str, Any]) -> Example:
    check_revision(example, revision)
    previous = example.as_revision()
    before = _audited(example)
    project = example.project
    status = changes.get("status", example.status)
    if "status" in changes and status not in AUTHOR_STATUSES:
        raise InvalidInput(
            "status can be set to draft or submitted here; approve, reject or request changes "
            "with a review (POST /api/examples/{id}/reviews/).",
            field="status",
        )
    content_changed = _apply_content(example, changes, status)
    _record_suggestion_use(example, previous.output)
    edited_approved = content_changed and status == ExampleStatus.APPROVED
    if edited_approved and not duties.may_keep_approval(project, user):
        status = ExampleStatus.SUBMITTED  # edited approved content goes back for review
    example.status = status
    if "metadata" in changes:
        example.metadata = checked_metadata(changes["metadata"])
    if "external_id" in changes:
        example.external_id = checked_external_id(changes["external_id"])
    difference = changed(before, _audited(example))
    if not difference:
        return example  # nothing to save: no new revision, so nobody else's revision goes stale
    _refuse_identical(example)
    _save_unique(lambda: _conditional_save(example, user, previous=previous, change="edited"), example)
    summary = f"Edited example {example.pk}: {', '.join(difference)}"
    audit(
        project=example.project_id,
        actor=user,
        action="example.update",
        target=example,
        summary=summary,
        changes=difference,
    )
    return example


def _record_suggestion_use(example: Example, output_before: str) -> None:
    """A draft without output that gets one: what it did with its model suggestion."""
    use = draft_use(example, output_before, example.output)
    if use.suggestion is not None:
        example.suggestion, example.suggestion_use = use.suggestion, use.use


def _audited(example: Example) -> dict[str, Any]:
    return {
        field: getattr(example, field) for field in ("input", "output", "status", "metadata", "external_id")
    }


@transaction.atomic
def example_review(
    *,
    example: Example,
    user: User,
    decision: str,
    comment: str = "",
    revision: int | None = None,
) -> Review:
    """Record a review; the example's status follows the decision. Stale revision: Conflict."""
    if decision not in ReviewDecision.values:
        raise InvalidInput(
            f"Unknown decision {decision!r}; use one of {', '.join(ReviewDecision.values)}.",
            field="decision",
        )
    if revision is not None:
        check_revision(example, revision)
    if example.status == ExampleStatus.DRAFT:
        raise InvalidInput("This example is a draft; it must be submitted before review.")
    if decision == ReviewDecision.REQUEST_CHANGES and not comment.strip():
        raise InvalidInput("Say what should change: a comment is required.", field="comment")
    self_review = duties.check_review(example=example, user=user, decision=decision)
    if decision == ReviewDecision.APPROVE:
        check_fits_project(example, field="decision")
        _approval_flags(example, user)
    reviewed_revision = example.revision
    status_before = example.status
    example_set_status(
        example=example,
        user=user,
        status=DECISION_STATUS[ReviewDecision(decision)],
        change="reviewed",
    )
    review = Review.objects.create(
        example=example,
        reviewer=user,
        decision=decision,
        comment=comment,
        revision=reviewed_revision,
    )
    audit(
        project=example.project_id,
        actor=user,
        action=f"review.{decision}",
        target=example,
        summary=f"Reviewed example {example.pk}: {decision.replace('_', ' ')}"
        + (" (self-review: the reviewer wrote or last edited it)" if self_review else ""),
        changes={
            "status": (status_before, example.status),
            **({"self_review": (None, True)} if self_review else {}),
        },
    )
    return review


def check_fits_project(example: Example, *, field: str) -> None:
    """What is approved or kept must fit the project's labels and schema as they are now: they
    may have changed since the example was written (Settings, "Save anyway")."""
    rules = ContentRules.for_project(example.project, require_output=True)
    try:
        rules.validate(example.input, example.output)
    except ApplicationError as exc:
        raise InvalidInput(
            f"Example {example.pk} does not fit the project's settings now: {exc.message} Edit it first.",
            field=field,
        ) from exc


def _approval_flags(example: Example, user: User) -> None:
    """What the example's open flags say of approving it (one query when it has none, as most
    have): a disagreement allows one approved answer; a format flag is stale once it fits."""
    kinds = set(
        Flag.objects.filter(
            kind__in=(FlagKind.DISAGREEMENT, FlagKind.FORMAT),
            status=FlagStatus.OPEN,
            memberships__example=example,
        ).values_list("kind", flat=True)
    )
    if FlagKind.DISAGREEMENT in kinds:
        _check_no_approved_rival(example)
    if FlagKind.FORMAT in kinds:
        _close_format_flags(example, user)


def _close_format_flags(example: Example, user: User) -> None:
    """The example fits the project's settings now (checked just before): a validation job's
    format flag on it is stale, and would keep it out of versions though it was approved."""
    from curation.services.flags import flag_resolve  # flags builds on this module's writes

    stale = Flag.objects.filter(kind=FlagKind.FORMAT, status=FlagStatus.OPEN, memberships__example=example)
    for flag in stale:
        note = "The example fits the project's settings now (checked when it was approved)."
        flag_resolve(flag=flag, user=user, resolution=FlagResolution.EDITED, note=note)


def _check_no_approved_rival(example: Example) -> None:
    """An open disagreement flag holds annotators' different answers to one input: once one is
    approved, approving another would call both right (and count both annotators as agreeing
    with the reviewers). The flag's resolution picks the answer."""
    rival = (
        FlagExample.objects.filter(
            flag__memberships__example=example,
            flag__kind=FlagKind.DISAGREEMENT,
            flag__status=FlagStatus.OPEN,
            example__status=ExampleStatus.APPROVED,
        )
        .exclude(example=example)
        .first()
    )
    if rival is not None:
        raise InvalidInput(
            f"Example {rival.example_id}, another answer to this input in open disagreement flag "
            f"{rival.flag_id}, is approved already: resolve the flag (keep one answer) rather than "
            "approve both.",
            field="decision",
        )


def example_set_status(*, example: Example, user: User, status: str, change: str) -> None:
    """Move an example to a status as one revision (used by reviews and flag resolution)."""
    previous = example.as_revision()
    example.status = status
    _conditional_save(example, user, previous=previous, change=change)


def check_initial_status(project: Project, user: User, status: str) -> None:
    """Authors start examples as draft or submitted; reviewers and leads also as reviewed."""
    if status not in ExampleStatus.values:
        raise InvalidInput(
            f"Unknown status {status!r}; use one of {', '.join(ExampleStatus.values)}.",
            field="status",
        )
    if status not in AUTHOR_STATUSES and not has_role(role_of(user, project), Role.REVIEWER):
        raise PermissionDenied(f"Only reviewers and leads may create examples as {status}.")
    duties.check_create(project=project, user=user, status=status)


def _validated(project: Project, input: Any, output: Any, status: str) -> tuple[str, str]:
    rules = ContentRules.for_project(project, require_output=status != ExampleStatus.DRAFT)
    return rules.validate(input, output)


def _apply_content(example: Example, changes: dict[str, Any], status: str) -> bool:
    """Validate the new content (or the old content against a new status); True if it changed."""
    project = example.project
    new_input = changes.get("input", example.input_value)
    new_output = changes.get("output", example.output)
    stored_input, stored_output = _validated(project, new_input, new_output, status)
    changed = (stored_input, stored_output) != (example.input, example.output)
    example.input, example.output = stored_input, stored_output
    example.content_hash = content_hash(stored_input, stored_output)
    return changed


def check_revision(example: Example, revision: int | None) -> None:
    """Conflict unless `revision` is the example's current one (the optimistic-concurrency check)."""
    if revision is None:
        raise Conflict(
            f"revision is required: send the revision you last read (current is {example.revision}).",
            field="revision",
        )
    if revision != example.revision:
        raise Conflict(
            f"This example changed since you read it: you sent revision {revision}, "
            f"the current one is {example.revision}. Reload it and apply your change again.",
            field="revision",
        )


def _conditional_save(example: Example, user: User, *, previous: ExampleRevision, change: str) -> None:
    """Write only if nobody else did since `previous`: a compare-and-set on revision.

    The revision it replaces goes to the history in the same transaction.
    """
    now, expected = timezone.now(), previous.revision
    written = Example.objects.filter(pk=example.pk, revision=expected).update(
        input=example.input,
        output=example.output,
        metadata=example.metadata,
        external_id=example.external_id,
        content_hash=example.content_hash,
        status=example.status,
        updated_by=user,
        updated_at=now,
        last_change=change,
        suggestion_id=example.suggestion_id,
        suggestion_use=example.suggestion_use,
        revision=F("revision") + 1,
    )
    if not written:
        raise Conflict("This example changed while you were saving it. Reload it and try again.")
    previous.save()
    example.revision = expected + 1
    example.updated_at = now
    example.updated_by = user
    example.last_change = change


def _refuse_identical(example: Example) -> None:
    same = Example.objects.filter(project_id=example.project_id).exclude(pk=example.pk)
    twin = same.filter(content_hash=example.content_hash).values_list("pk", "status").first()
    if twin is not None:
        raise InvalidInput(_identical_message(example, *twin))
    if example.external_id is not None:
        holder = same.filter(external_id=example.external_id).values_list("pk", flat=True).first()
        if holder is not None:
            raise InvalidInput(
                f"external_id {example.external_id!r} is already used by example {holder}.",
                field="external_id",
            )


def _identical_message(example: Example, twin: int, twin_status: str) -> str:
    message = f"An identical example already exists in this project (id {twin}, {twin_status})."
    if example.pk is not None:  # an edit: the author needs a way out that is not this change
        message += (
            " This example would only repeat it: change it some other way, or leave it for a "
            "reviewer to reject."
        )
    return message


def _save_unique(save: Any, example: Example) -> None:
    """Run a save; a unique-constraint race that the check above missed becomes InvalidInput."""
    try:
        with transaction.atomic():
            save()
    except IntegrityError as exc:
        raise InvalidInput("An identical example, or one with the same external_id, was just saved.") from exc


def checked_metadata(metadata: Any) -> dict[str, Any]:
    """Metadata must be a JSON object of bounded size; returns it unchanged."""
    metadata_json(metadata)
    return metadata or {}


def metadata_json(metadata: Any) -> str:
    """Validate metadata and return it as canonical JSON text (what imports stage)."""
    if metadata is None or metadata == {}:
        return "{}"
    if not isinstance(metadata, dict):
        raise InvalidInput("metadata must be a JSON object.", field="metadata")
    text = refuse_nul_json(storable_json(metadata, "metadata"), "metadata")
    if len(metadata) > MAX_METADATA_KEYS or len(text) > settings.FINCH_MAX_METADATA_CHARS:
        raise InvalidInput(
            f"metadata is too large ({len(metadata)} keys, {len(text)} characters); the limits are "
            f"{MAX_METADATA_KEYS} keys and {settings.FINCH_MAX_METADATA_CHARS} characters.",
            field="metadata",
        )
    return text


def checked_external_id(external_id: Any) -> str | None:
    if external_id is None or external_id == "":
        return None
    if not isinstance(external_id, str | int):
        raise InvalidInput("external_id must be a string.", field="external_id")
    text = str(external_id).strip()
    if len(text) > 255:
        raise InvalidInput("external_id is longer than 255 characters.", field="external_id")
    return text or None
