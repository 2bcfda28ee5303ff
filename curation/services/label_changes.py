"""Changing a project's labels or schema once it has examples: how many examples the change
would leave invalid (counted before saving), and relabeling examples when a label is renamed."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Count, Q

from curation.errors import ApplicationError, InvalidInput
from curation.models import (
    Example,
    ExampleStatus,
    Flag,
    FlagKind,
    FlagResolution,
    FlagStatus,
    LabelingAssignment,
    Project,
    TaskType,
)
from curation.services.content import content_hash, extraction_checker, validate_project_settings
from curation.services.examples import example_update
from curation.services.flags import flag_resolve
from curation.services.projects import project_update

CHUNK = 2000


@dataclass
class SettingsImpact:
    """What new labels / schema would do to the project's existing examples."""

    checked: int = 0
    invalid: int = 0
    by_label: dict[str, int] = field(default_factory=dict)  # removed or renamed label -> examples
    renamed: dict[str, int] = field(default_factory=dict)  # old label -> examples a relabel would move

    @property
    def renamed_examples(self) -> int:
        return sum(self.renamed.values())

    @property
    def touched(self) -> int:
        return self.invalid + self.renamed_examples


def settings_impact(
    *, project: Project, labels: Any, output_schema: Any, renames: dict[str, str] | None = None
) -> SettingsImpact:
    """Count the examples that new labels (classification) or a new schema (extraction) leave
    invalid, and those a relabel would move, without saving anything. InvalidInput names bad
    labels, a bad schema or a bad rename."""
    clean_labels, clean_schema = validate_project_settings(project.task_type, labels, output_schema)
    renames = checked_renames(project, clean_labels, renames or {})
    impact = SettingsImpact(checked=project.examples.count())
    if project.task_type == TaskType.CLASSIFICATION:
        _label_impact(project, clean_labels, renames, impact)
    elif project.task_type == TaskType.EXTRACTION and clean_schema != project.output_schema:
        impact.invalid = _outputs_refused(project, clean_schema)
    return impact


def _label_impact(
    project: Project, labels: list[str], renames: dict[str, str], impact: SettingsImpact
) -> None:
    # One grouped count in the database: a million examples take a scan, not a Python loop. A
    # renamed label's examples count as renamed even where its name stays a label (a swap).
    touched = project.examples.exclude(output="").filter(~Q(output__in=labels) | Q(output__in=list(renames)))
    for row in touched.values("output").annotate(n=Count("id")).order_by("output"):
        if row["output"] in renames:
            impact.renamed[row["output"]] = row["n"]
        else:
            impact.by_label[row["output"]] = row["n"]
            impact.invalid += row["n"]


def _outputs_refused(project: Project, schema: dict[str, Any] | None) -> int:
    refused, check = 0, extraction_checker(schema)
    outputs = project.examples.exclude(output="").values_list("output", flat=True).order_by("id")
    for output in outputs.iterator(chunk_size=CHUNK):
        try:
            check(output)
        except ApplicationError:
            refused += 1
    return refused


def checked_renames(project: Project, new_labels: list[str], renames: dict[str, str]) -> dict[str, str]:
    """Renames old label -> new label, each old one a current label and each new one in the new list."""
    if renames and project.task_type != TaskType.CLASSIFICATION:
        raise InvalidInput("Only a classification project's labels can be renamed.", field="labels")
    for old, new in renames.items():
        if old not in project.labels or new not in new_labels or old == new:
            raise InvalidInput(f"Cannot relabel {old!r} as {new!r}: both must be labels.", field="labels")
    return renames


@dataclass
class Relabeled:
    """What a relabel did: examples moved to their label's new name; disagreement flags a merge
    settled (its two answers now one label that is not renamed itself: the example already under
    it kept, the other rejected, so each flag took one touched example out); and examples left under the old name because another example already holds the
    same input under the new one (a merge or a swap met both answers to one input)."""

    moved: int = 0
    agreed: list[int] = field(default_factory=list)  # flag ids
    left: list[int] = field(default_factory=list)


def project_settings_change(
    *, project: Project, user: User, changes: dict[str, Any], renames: dict[str, str] | None = None
) -> Relabeled:
    """Save new settings and, when asked, move examples from renamed labels to their new names
    (each an edit with history and audit); renaming a label to another's name merges the two.
    All or nothing."""
    try:
        with transaction.atomic():
            new_labels, _ = validate_project_settings(
                project.task_type,
                changes.get("labels", project.labels),
                changes.get("output_schema", project.output_schema),
            )
            checked = checked_renames(project, new_labels, renames or {})  # against the old labels
            project_update(project=project, user=user, changes=changes)
            return _relabel(project, user, checked)
    except ApplicationError:
        project.refresh_from_db()
        raise


def _relabel(project: Project, user: User, renames: dict[str, str]) -> Relabeled:
    # The examples of each old label are chosen before any moves, so a swap (a -> b, b -> a)
    # moves each example once.
    chosen = {old: list(project.examples.filter(output=old).values_list("pk", flat=True)) for old in renames}
    _rename_answers(project, renames)
    outcome = Relabeled()
    for old in _emptied_first(renames):
        for example in Example.objects.filter(pk__in=chosen[old]).order_by("id"):
            twin = _twin_under(project, example, renames[old])
            if twin is None:
                example.project = project
                example_update(
                    example=example, user=user, revision=example.revision, changes={"output": renames[old]}
                )
                outcome.moved += 1
            elif renames[old] not in renames and (flag := _settled_disagreement(example, twin)):
                note = f"Labels merged: “{old}” into “{renames[old]}”, so both answers are “{renames[old]}”."
                flag_resolve(
                    flag=flag, user=user, resolution=FlagResolution.KEEP_ONE, keep=twin.pk, note=note
                )
                outcome.agreed.append(flag.pk)
            else:
                outcome.left.append(example.pk)
    return outcome


def _emptied_first(renames: dict[str, str]) -> list[str]:
    """The old labels in an order that moves a label's examples out before others move in (with
    a -> b and b -> c, b's go first: a's would meet them as twins under b). In a cycle (a swap)
    one label's examples still meet the other's."""
    order: list[str] = []

    def visit(old: str, path: set[str]) -> None:
        if old in order or old in path:
            return
        if renames[old] in renames:
            visit(renames[old], path | {old})
        order.append(old)

    for old in renames:
        visit(old, set())
    return order


def _twin_under(project: Project, example: Example, label: str) -> Example | None:
    """Another example giving this input the label already: moving would make a twin."""
    twin = content_hash(example.input, label)
    return project.examples.filter(content_hash=twin).exclude(pk=example.pk).first()


def _settled_disagreement(example: Example, twin: Example) -> Flag | None:
    """The open disagreement flag whose only answers still standing are these two (a third
    answer, another label, keeps it open)."""
    flags = Flag.objects.filter(kind=FlagKind.DISAGREEMENT, status=FlagStatus.OPEN, examples=example)
    for flag in flags.filter(examples=twin):
        standing = flag.examples.exclude(status=ExampleStatus.REJECTED).values_list("pk", flat=True)
        if set(standing) == {example.pk, twin.pk}:
            return flag
    return None


def _rename_answers(project: Project, renames: dict[str, str]) -> None:
    """The labeling queue's answers under each old label take its new name, so that agreement
    (between annotators, and with reviewers' approved examples, relabeled above) compares names
    that mean the same label. Chosen before any moves, as the examples are (a swap)."""
    answers = LabelingAssignment.objects.filter(item__project=project)
    chosen = {old: list(answers.filter(output=old).values_list("pk", flat=True)) for old in renames}
    for old, ids in chosen.items():
        LabelingAssignment.objects.filter(pk__in=ids).update(output=renames[old])
