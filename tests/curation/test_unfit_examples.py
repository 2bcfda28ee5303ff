"""Approved examples that stop fitting the project's labels or schema (Settings changed since):
a freeze leaves them out even when no validation job ran, their format flag closes only once they
fit again or are rejected, and approving one that fits again closes its stale flag."""

from __future__ import annotations

import pytest

from curation.errors import InvalidInput
from curation.models import Example, ExampleStatus, Flag, FlagKind, FlagStatus, Project, Role, TaskType
from curation.services.examples import example_create, example_review, example_update
from curation.services.flags import flag_resolve
from curation.services.validation_jobs import flag_unfit_outputs
from curation.services.versions import freeze_preview, version_create
from tests.factories import MembershipFactory, ProjectFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_in_tmp")]

NEEDS_X = {"type": "object", "properties": {"x": {"type": "string"}}, "required": ["x"]}
NEEDS_Y = {"type": "object", "properties": {"y": {"type": "string"}}, "required": ["y"]}


def test_a_freeze_after_a_schema_change_leaves_out_and_flags_outputs_the_schema_refuses() -> None:
    # Given an extraction project with two approved examples, then a schema only one still meets
    project = ProjectFactory.create(task_type=TaskType.EXTRACTION, labels=[], output_schema=NEEDS_X)
    lead = MembershipFactory.create(project=project, role=Role.LEAD).user
    stale = example_create(project=project, user=lead, input="a", output='{"x": "1"}', status="approved")
    fits = example_create(
        project=project, user=lead, input="b", output='{"x": "2", "y": "3"}', status="approved"
    )
    project.output_schema = NEEDS_Y
    project.save(update_fields=["output_schema"])

    # When the lead freezes, no validation job having run
    version = version_create(project=project, user=lead, eval_fraction=0.0)

    # Then only the example that fits is in it; the other is flagged, and counted as left out
    version.refresh_from_db()
    assert version.counts == {"train": 1, "eval": 0}
    assert set(version.items.values_list("example_id", flat=True)) == {fits.pk}
    flag = Flag.objects.get(kind=FlagKind.FORMAT, status=FlagStatus.OPEN)
    assert list(flag.examples.values_list("pk", flat=True)) == [stale.pk] and flag.job == "freeze of v1"
    assert version.stats["excluded"]["invalid"] == 1
    assert flag_unfit_outputs(project, raised_by="again") == 0  # one open flag an example


def test_a_format_flag_closes_only_once_its_example_fits_again() -> None:
    # Given a classification example flagged after its label was removed
    project = ProjectFactory.create()
    lead = MembershipFactory.create(project=project, role=Role.LEAD).user
    example = example_create(project=project, user=lead, input="Where is my card?", output=project.labels[0])
    removed, project.labels = project.labels[0], project.labels[1:]
    project.save(update_fields=["labels"])
    flag = _format_flag(project, example)

    # When the lead dismisses the flag, it is refused naming what does not fit
    with pytest.raises(InvalidInput, match="is not one of the project's labels") as refused:
        flag_resolve(flag=flag, user=lead, resolution="dismiss")
    assert refused.value.field == "resolution"

    # And once the example is edited to a label of the set, the flag closes
    example_update(
        example=example, user=lead, revision=example.revision, changes={"output": project.labels[0]}
    )
    assert flag_resolve(flag=flag, user=lead, resolution="edited").status == FlagStatus.RESOLVED
    assert removed not in project.labels


def test_approving_an_example_that_fits_again_closes_its_stale_format_flag() -> None:
    # Given a submitted example flagged while its label was removed, then the label put back
    project = ProjectFactory.create()
    author, reviewer = (
        MembershipFactory.create(project=project, role=role).user for role in (Role.ANNOTATOR, Role.REVIEWER)
    )
    example = example_create(
        project=project, user=author, input="Where is my card?", output=project.labels[0], status="submitted"
    )
    labels = list(project.labels)
    project.labels = labels[1:]
    project.save(update_fields=["labels"])
    flag = _format_flag(project, example)
    project.labels = labels
    project.save(update_fields=["labels"])

    # When a reviewer approves it
    example_review(example=Example.objects.get(pk=example.pk), user=reviewer, decision="approve")

    # Then the flag is closed, and a freeze would take the example
    flag.refresh_from_db()
    assert flag.status == FlagStatus.RESOLVED and flag.resolved_by == reviewer
    assert freeze_preview(project).included == 1 and freeze_preview(project).excluded["invalid"] == 0
    assert Example.objects.get(pk=example.pk).status == ExampleStatus.APPROVED


def _format_flag(project: Project, example: Example) -> Flag:
    from curation.services.flags import flag_create

    return flag_create(
        project=project,
        user=None,
        kind=FlagKind.FORMAT,
        example_ids=[example.pk],
        note="unfit",
        job="test",
    )
