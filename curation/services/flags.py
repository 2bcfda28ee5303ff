"""Writes for flags: raise one on a set of examples, resolve it."""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Sequence
from typing import Any

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.utils import timezone

from curation.errors import Conflict, InvalidInput
from curation.models import (
    Example,
    ExampleStatus,
    Flag,
    FlagExample,
    FlagKind,
    FlagResolution,
    FlagStatus,
    Project,
    RaisedBy,
    Review,
    ReviewDecision,
)
from curation.services.audit import audit
from curation.services.content import answer_key, clip
from curation.services.examples import check_fits_project, example_set_status, example_update

MAX_FLAG_EXAMPLES = 1000
KEEP_RESOLUTIONS = {FlagResolution.KEEP_FIRST: 1, FlagResolution.KEEP_SECOND: 0}


def examples_key(example_ids: Sequence[int]) -> str:
    """One key per set of examples, whatever their order, for the one-open-flag rule."""
    joined = ",".join(str(pk) for pk in sorted(example_ids))
    return hashlib.sha256(joined.encode()).hexdigest()


@transaction.atomic
def flag_create(
    *,
    project: Project,
    user: User | None,
    kind: str,
    example_ids: Sequence[Any],
    note: str = "",
    job: str = "",
) -> Flag:
    """Raise a flag on examples of the project. Conflict if the same flag is already open."""
    if kind not in FlagKind.values:
        raise InvalidInput(f"Unknown kind {kind!r}; use one of {', '.join(FlagKind.values)}.", field="kind")
    if kind == FlagKind.DISAGREEMENT and not job:
        raise InvalidInput(
            "Disagreement flags come from the labeling queue, when annotators answer one input "
            "differently; raise a contradiction flag for examples that disagree.",
            field="kind",
        )
    ids = _checked_ids(project, kind, example_ids)
    key = examples_key(ids)
    _refuse_open_twin(project, kind, key)
    flag = Flag(
        project=project,
        kind=kind,
        note=note,
        raised_by=RaisedBy.JOB if job else RaisedBy.USER,
        created_by=user,
        job=job,
        examples_key=key,
    )
    try:
        with transaction.atomic():
            flag.save()
    except IntegrityError as exc:
        raise Conflict("The same flag was just raised on these examples.") from exc
    FlagExample.objects.bulk_create(
        FlagExample(flag=flag, example_id=pk, position=index) for index, pk in enumerate(ids)
    )
    if user is not None:  # a job's flags: its launch is the event
        summary = f"Raised a {kind} flag on examples {', '.join(map(str, ids))}"
        audit(project=project, actor=user, action="flag.raise", target=flag, summary=summary)
    return flag


JobPair = tuple[tuple[int, int], str]  # two example ids a job found, and the flag's note


def job_flags_raise(project: Project, kind: str, pairs: Sequence[JobPair], job: str) -> int:
    """A job's flags, one per pair never flagged before (open, resolved or dismissed: a person's
    decision stands), nor in one disagreement flag together (the answers of one labeled input:
    that flag decides between them); returns how many were raised."""
    already = set(Flag.objects.filter(project=project, kind=kind).values_list("examples_key", flat=True))
    already |= _disagreement_pair_keys(project)
    raised = 0
    with transaction.atomic():
        for (first, second), note in pairs:
            if examples_key([first, second]) in already:
                continue
            flag_create(
                project=project, user=None, kind=kind, example_ids=[first, second], note=note, job=job
            )
            already.add(examples_key([first, second]))
            raised += 1
    return raised


def _disagreement_pair_keys(project: Project) -> set[str]:
    """examples_key of every pair of examples that one disagreement flag holds together."""
    members: dict[int, list[int]] = {}
    rows = FlagExample.objects.filter(flag__project=project, flag__kind=FlagKind.DISAGREEMENT)
    for flag_id, example_id in rows.values_list("flag_id", "example_id"):
        members.setdefault(flag_id, []).append(example_id)
    return {
        examples_key(pair) for examples in members.values() for pair in itertools.combinations(examples, 2)
    }


def disagreement_note(first_output: str, second_output: str) -> str:
    """A job's note on two examples whose inputs are alike and whose outputs are not."""
    return f"Inputs alike, outputs differ: {clip(first_output, 60)!r} vs {clip(second_output, 60)!r}."


@transaction.atomic
def flag_resolve(
    *, flag: Flag, user: User, resolution: str, note: str = "", keep: int | None = None, output: Any = None
) -> Flag:
    """Close an open flag. keep_first/keep_second on a contradiction reject the other example;
    keep_one on a disagreement keeps the `keep` example (its output replaced by `output` when
    given) and rejects the others; reject_all rejects every example of a disagreement."""
    if resolution not in FlagResolution.values:
        raise InvalidInput(
            f"Unknown resolution {resolution!r}; use one of {', '.join(FlagResolution.values)}.",
            field="resolution",
        )
    flag = Flag.objects.select_for_update().get(pk=flag.pk)
    if flag.status != FlagStatus.OPEN:
        raise Conflict(f"This flag is already {flag.status}.")
    _check_resolution_fits(flag, resolution, keep, output)
    if flag.kind == FlagKind.FORMAT:
        _check_members_fit(flag)
    if resolution in KEEP_RESOLUTIONS:
        _reject_loser(flag, user, KEEP_RESOLUTIONS[FlagResolution(resolution)])
    elif resolution == FlagResolution.KEEP_ONE:
        _keep_one_answer(flag, user, keep, output)
    elif resolution == FlagResolution.REJECT_ALL:
        _reject_members(flag, user, kept=None)
    flag.status = FlagStatus.DISMISSED if resolution == FlagResolution.DISMISS else FlagStatus.RESOLVED
    flag.resolution = resolution
    flag.resolution_note = note
    flag.resolved_by = user
    flag.resolved_at = timezone.now()
    flag.save()
    audit(
        project=flag.project_id,
        actor=user,
        action="flag.resolve",
        target=flag,
        summary=f"Resolved flag {flag.pk}: {resolution.replace('_', ' ')}",
        changes={"status": (FlagStatus.OPEN, flag.status)},
    )
    return flag


def _reject_loser(flag: Flag, user: User, loser_position: int) -> None:
    if flag.kind != FlagKind.CONTRADICTION:
        raise InvalidInput("keep_first and keep_second resolve contradiction flags only.", field="resolution")
    members = list(flag.memberships.select_related("example__project").order_by("position"))
    loser = members[loser_position].example
    kept = members[1 - loser_position].example
    if loser.status == ExampleStatus.REJECTED:
        return
    example_set_status(example=loser, user=user, status=ExampleStatus.REJECTED, change="flag_resolved")
    Review.objects.create(
        example=loser,
        reviewer=user,
        decision=ReviewDecision.REJECT,
        comment=f"Rejected resolving contradiction flag {flag.pk} in favour of example {kept.pk}.",
        revision=loser.revision - 1,
    )


def _check_resolution_fits(flag: Flag, resolution: str, keep: int | None, output: Any) -> None:
    answers_only = (FlagResolution.KEEP_ONE, FlagResolution.REJECT_ALL)
    if resolution in answers_only and flag.kind != FlagKind.DISAGREEMENT:
        raise InvalidInput(f"{resolution} resolves disagreement flags only.", field="resolution")
    if resolution == FlagResolution.KEEP_ONE and keep is None:
        raise InvalidInput("keep_one needs keep: the id of the example (answer) to keep.", field="keep")
    if resolution != FlagResolution.KEEP_ONE and (keep is not None or output is not None):
        raise InvalidInput("keep and output go with the keep_one resolution only.", field="keep")
    if resolution == FlagResolution.DISMISS and flag.kind == FlagKind.DISAGREEMENT:
        # Only classification and extraction inputs raise them (generation and chat answers
        # become alternatives): one input, one right answer, so two cannot both enter a version.
        raise InvalidInput(
            "A disagreement's answers cannot all stand: two different answers to one input "
            "contradict each other in a version. Keep one answer (as it is or edited) or reject them all.",
            field="resolution",
        )


def _check_members_fit(flag: Flag) -> None:
    """A format flag says an example no longer fits the project's labels or schema: it closes
    once the example fits again (edited, or the settings changed back) or is rejected, never
    while it would still enter a version unfit."""
    for member in _members(flag):
        example = member.example
        unanswered_draft = example.status == ExampleStatus.DRAFT and not example.output.strip()
        if example.status != ExampleStatus.REJECTED and not unanswered_draft:
            check_fits_project(example, field="resolution")


def _keep_one_answer(flag: Flag, user: User, keep: int | None, output: Any) -> None:
    members = [member.example for member in _members(flag)]
    kept = next((example for example in members if example.pk == keep), None)
    if kept is None:
        raise InvalidInput(f"Example {keep} is not one of this flag's answers.", field="keep")
    if output is not None and (same := _answer_given(members, output, but=kept)) is not None:
        kept = same  # edited into another answer: that answer is the one kept
    elif output is not None and output != kept.output:
        example_update(example=kept, user=user, revision=kept.revision, changes={"output": output})
    else:
        check_fits_project(kept, field="keep")
    _reject_members(flag, user, kept=kept)


def _answer_given(members: list[Example], output: Any, *, but: Example) -> Example | None:
    """Another standing answer that already says `output` (an edit can only repeat it: the two
    would be one example twice)."""
    if not isinstance(output, str):
        return None
    task_type = but.project.task_type  # one flag, one project
    key = answer_key(task_type, output)
    return next(
        (
            example
            for example in members
            if example != but
            and example.status != ExampleStatus.REJECTED
            and answer_key(task_type, example.output) == key
        ),
        None,
    )


def _reject_members(flag: Flag, user: User, *, kept: Example | None) -> None:
    reason = f"in favour of example {kept.pk}" if kept else "with every other answer"
    for member in _members(flag):
        example = member.example
        if example == kept or example.status == ExampleStatus.REJECTED:
            continue
        example_set_status(example=example, user=user, status=ExampleStatus.REJECTED, change="flag_resolved")
        Review.objects.create(
            example=example,
            reviewer=user,
            decision=ReviewDecision.REJECT,
            comment=f"Rejected resolving {flag.kind} flag {flag.pk} {reason}.",
            revision=example.revision - 1,
        )


def _members(flag: Flag) -> list[FlagExample]:
    return list(flag.memberships.select_related("example__project").order_by("position"))


def _checked_ids(project: Project, kind: str, example_ids: Sequence[Any]) -> list[int]:
    if not isinstance(example_ids, list | tuple) or not example_ids:
        raise InvalidInput("examples must be a non-empty list of example ids.", field="examples")
    if not all(isinstance(pk, int) and not isinstance(pk, bool) for pk in example_ids):
        raise InvalidInput("examples must be a list of integer ids.", field="examples")
    ids = list(dict.fromkeys(example_ids))
    if len(ids) != len(example_ids):
        raise InvalidInput("examples names the same example twice.", field="examples")
    if kind == FlagKind.CONTRADICTION and len(ids) != 2:
        raise InvalidInput("A contradiction flag names exactly two examples.", field="examples")
    if len(ids) > MAX_FLAG_EXAMPLES:
        raise InvalidInput(f"A flag names at most {MAX_FLAG_EXAMPLES} examples.", field="examples")
    found = set(Example.objects.filter(project=project, pk__in=ids).values_list("pk", flat=True))
    missing = [pk for pk in ids if pk not in found]
    if missing:
        raise InvalidInput(
            f"No example with id {', '.join(map(str, missing))} in this project.", field="examples"
        )
    return ids


def _refuse_open_twin(project: Project, kind: str, key: str) -> None:
    twin = (
        Flag.objects.filter(project=project, kind=kind, examples_key=key, status=FlagStatus.OPEN)
        .values_list("pk", flat=True)
        .first()
    )
    if twin is not None:
        raise Conflict(f"An open {kind} flag already names these examples (flag {twin}).")
