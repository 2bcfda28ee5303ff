"""Changing a project's labels or schema once it has examples: how many examples the change
would leave invalid (counted before saving), and relabeling examples when a label is renamed."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction

from curation.errors import ApplicationError, InvalidInput
from curation.models import Example, ExampleStatus, Project, TaskType
from curation.pipeline import json_values
from curation.services.content import ContentRules, validate_project_settings
from curation.services.examples import example_update
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
    """Count the examples that new labels and schema leave invalid (and those a relabel would
    move), without saving anything. InvalidInput names bad labels or a bad schema."""
    clean_labels, clean_schema = validate_project_settings(project.task_type, labels, output_schema)
    renames = checked_renames(project, clean_labels, renames or {})
    impact = SettingsImpact()
    rules = {
        required: ContentRules(project.task_type, clean_labels, clean_schema, required)
        for required in (True, False)
    }
    rows = project.examples.values_list("input", "output", "status").order_by("id")
    for input_text, output, status in rows.iterator(chunk_size=CHUNK):
        impact.checked += 1
        if output in renames:
            impact.renamed[output] = impact.renamed.get(output, 0) + 1
            continue
        if not _valid(rules[status != ExampleStatus.DRAFT], project.task_type, input_text, output):
            impact.invalid += 1
            if project.task_type == TaskType.CLASSIFICATION and output:
                impact.by_label[output] = impact.by_label.get(output, 0) + 1
    return impact


def _valid(rules: ContentRules, task_type: str, input_text: str, output: str) -> bool:
    input_value: Any = json_values.loads(input_text) if task_type == TaskType.CHAT else input_text
    try:
        rules.validate(input_value, output)
    except ApplicationError:
        return False
    return True


def checked_renames(project: Project, new_labels: list[str], renames: dict[str, str]) -> dict[str, str]:
    """Renames old label -> new label, each old one a current label and each new one in the new list."""
    if renames and project.task_type != TaskType.CLASSIFICATION:
        raise InvalidInput("Only a classification project's labels can be renamed.", field="labels")
    for old, new in renames.items():
        if old not in project.labels or new not in new_labels or old == new:
            raise InvalidInput(f"Cannot relabel {old!r} as {new!r}: both must be labels.", field="labels")
    return renames


def project_settings_change(
    *, project: Project, user: User, changes: dict[str, Any], renames: dict[str, str] | None = None
) -> int:
    """Save new settings and, when asked, move examples from renamed labels to their new names
    (each an edit with history and audit). Returns how many examples moved; all or nothing."""
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


def _relabel(project: Project, user: User, renames: dict[str, str]) -> int:
    # The examples of each old label are chosen before any moves, so a swap (a -> b, b -> a)
    # moves each example once.
    chosen = {old: list(project.examples.filter(output=old).values_list("pk", flat=True)) for old in renames}
    moved = 0
    for old, ids in chosen.items():
        for example in Example.objects.filter(pk__in=ids).order_by("id"):
            example.project = project
            example_update(
                example=example, user=user, revision=example.revision, changes={"output": renames[old]}
            )
            moved += 1
    return moved
