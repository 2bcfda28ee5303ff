"""Example services: creation, edits under optimistic concurrency, reviews, history."""

from typing import Any

import pytest

from curation.errors import Conflict, InvalidInput, PermissionDenied
from curation.models import AuditEvent, Example, ExampleStatus, Review
from curation.selectors import example_history
from curation.services.examples import example_create, example_review, example_update
from tests.conftest import Team


def create(team: Team, user_role: str = "annotator", **fields: Any) -> Example:
    values: dict[str, Any] = {"input": "Where is my new card?", "output": "card_arrival"}
    values.update(fields)
    return example_create(project=team.project, user=team.user(user_role), **values)


@pytest.mark.django_db
class TestCreate:
    def test_creates_a_draft_whose_history_is_itself(self, team: Team) -> None:
        example = create(team)
        assert (example.status, example.revision) == (ExampleStatus.DRAFT, 1)
        assert not example.revisions.exists()
        history = example_history(example=example)
        assert [(entry.revision, entry.change, entry.changed_by) for entry in history] == [
            (1, "created", team.annotator)
        ]

    def test_identical_content_is_refused_naming_the_twin(self, team: Team) -> None:
        first = create(team)
        with pytest.raises(InvalidInput, match=f"id {first.pk}"):
            create(team, input="  Where is my new card?  ")

    def test_content_is_stored_as_given(self, team: Team) -> None:
        example = create(team, input="  WHERE is my card??  ")
        assert example.input == "  WHERE is my card??  "

    def test_near_identical_content_is_a_separate_example(self, team: Team) -> None:
        create(team)
        assert create(team, input="Where is my new card").pk

    def test_external_id_is_unique_per_project(self, team: Team) -> None:
        create(team, external_id="row-1")
        with pytest.raises(InvalidInput, match="row-1"):
            create(team, input="Another question", external_id="row-1")

    def test_annotator_cannot_create_approved(self, team: Team) -> None:
        with pytest.raises(PermissionDenied):
            create(team, status=ExampleStatus.APPROVED)

    def test_lead_can_create_approved(self, team: Team) -> None:
        assert create(team, "lead", status=ExampleStatus.APPROVED).status == ExampleStatus.APPROVED

    def test_reviewer_may_not_write_approved_examples_under_separation_of_duties(self, team: Team) -> None:
        with pytest.raises(PermissionDenied, match="Separation of duties"):
            create(team, "reviewer", status=ExampleStatus.APPROVED)
        team.project.reviewers_may_not_review_own = False
        team.project.save()
        assert create(team, "reviewer", status=ExampleStatus.APPROVED).status == ExampleStatus.APPROVED

    def test_metadata_must_be_an_object(self, team: Team) -> None:
        with pytest.raises(InvalidInput, match="metadata must be a JSON object"):
            create(team, metadata=["a"])


@pytest.mark.django_db
class TestUpdate:
    def test_edit_bumps_revision_and_keeps_the_old_content(self, team: Team) -> None:
        example = create(team)
        example_update(example=example, user=team.annotator, revision=1, changes={"input": "Card not here"})
        assert example.revision == 2
        history = example_history(example=example)
        assert [(entry.revision, entry.change, entry.input) for entry in history] == [
            (2, "edited", "Card not here"),
            (1, "created", "Where is my new card?"),
        ]

    @pytest.mark.parametrize(
        "changes",
        [
            pytest.param({}, id="nothing"),
            pytest.param({"input": "Where is my new card?", "output": "card_arrival"}, id="same-content"),
            pytest.param({"status": "draft", "metadata": None, "external_id": ""}, id="same-fields"),
        ],
    )
    def test_an_edit_that_changes_nothing_saves_nothing(self, team: Team, changes: dict[str, Any]) -> None:
        example = create(team)

        example_update(example=example, user=team.reviewer, revision=1, changes=changes)

        example.refresh_from_db()
        assert (example.revision, example.updated_by, example.last_change) == (1, team.annotator, "created")
        assert not example.revisions.exists()
        assert not AuditEvent.objects.filter(action="example.update").exists()
        example_update(example=example, user=team.annotator, revision=1, changes={"output": "card_linking"})
        assert example.revision == 2

    def test_an_edit_that_changes_nothing_still_needs_the_current_revision(self, team: Team) -> None:
        example = create(team)
        example_update(example=example, user=team.annotator, revision=1, changes={"input": "Edit one"})

        with pytest.raises(Conflict, match="you sent revision 1, the current one is 2"):
            example_update(example=example, user=team.reviewer, revision=1, changes={})

    def test_stale_revision_is_a_conflict(self, team: Team) -> None:
        example = create(team)
        example_update(example=example, user=team.annotator, revision=1, changes={"input": "Edit one"})
        with pytest.raises(Conflict, match="you sent revision 1, the current one is 2"):
            example_update(example=example, user=team.reviewer, revision=1, changes={"input": "Edit two"})

    def test_missing_revision_is_a_conflict(self, team: Team) -> None:
        example = create(team)
        with pytest.raises(Conflict, match="revision is required"):
            example_update(
                example=example, user=team.annotator, revision=None, changes={"output": "card_linking"}
            )

    def test_concurrent_writer_loses_even_with_a_stale_object(self, team: Team) -> None:
        example = create(team)
        stale_copy = type(example).objects.get(pk=example.pk)
        example_update(example=example, user=team.annotator, revision=1, changes={"input": "First"})
        # The stale copy still believes revision 1 is current; the database decides.
        with pytest.raises(Conflict):
            example_update(example=stale_copy, user=team.reviewer, revision=1, changes={"input": "Second"})
        stale_copy.refresh_from_db()
        assert stale_copy.input == "First"

    def test_submitting_requires_an_output(self, team: Team) -> None:
        example = create(team, output="")
        with pytest.raises(InvalidInput, match="output must not be empty"):
            example_update(example=example, user=team.annotator, revision=1, changes={"status": "submitted"})

    def test_review_statuses_cannot_be_set_by_edit(self, team: Team) -> None:
        example = create(team)
        with pytest.raises(InvalidInput, match="with a review"):
            example_update(example=example, user=team.lead, revision=1, changes={"status": "approved"})

    def test_annotator_edit_of_approved_content_goes_back_to_review(self, team: Team) -> None:
        example = create(team, "lead", status=ExampleStatus.APPROVED)
        example_update(example=example, user=team.annotator, revision=1, changes={"output": "card_linking"})
        assert example.status == ExampleStatus.SUBMITTED

    @pytest.mark.parametrize(
        ("editor", "separation", "status"),
        [
            ("lead", True, ExampleStatus.APPROVED),
            ("reviewer", True, ExampleStatus.SUBMITTED),  # approving one's own edit is a self-review
            ("reviewer", False, ExampleStatus.APPROVED),
        ],
    )
    def test_an_edit_of_approved_content_stays_approved_only_where_the_editor_may_approve_it(
        self, team: Team, editor: str, separation: bool, status: str
    ) -> None:
        team.project.reviewers_may_not_review_own = separation
        team.project.save()
        example = create(team, "lead", status=ExampleStatus.APPROVED)
        example_update(
            example=example, user=team.user(editor), revision=1, changes={"output": "card_linking"}
        )
        assert example.status == status

    def test_edit_into_an_existing_twin_is_refused(self, team: Team) -> None:
        create(team, input="Twin")
        example = create(team, input="Other")
        with pytest.raises(InvalidInput, match="identical example"):
            example_update(example=example, user=team.annotator, revision=1, changes={"input": "Twin"})
        example.refresh_from_db()
        assert (example.input, example.revision) == ("Other", 1)


@pytest.mark.django_db
class TestReview:
    @pytest.mark.parametrize(
        ("decision", "status"),
        [("approve", "approved"), ("reject", "rejected"), ("request_changes", "needs_changes")],
    )
    def test_status_follows_the_decision(self, team: Team, decision: str, status: str) -> None:
        example = create(team, status=ExampleStatus.SUBMITTED)
        review = example_review(example=example, user=team.reviewer, decision=decision, comment="why")
        example.refresh_from_db()
        assert (example.status, review.revision, example.revision) == (status, 1, 2)
        assert example.last_change == "reviewed"
        assert example.revisions.get().status == ExampleStatus.SUBMITTED  # the superseded revision

    def test_draft_cannot_be_reviewed(self, team: Team) -> None:
        example = create(team)
        with pytest.raises(InvalidInput, match="must be submitted"):
            example_review(example=example, user=team.reviewer, decision="approve")

    def test_request_changes_needs_a_comment(self, team: Team) -> None:
        example = create(team, status=ExampleStatus.SUBMITTED)
        with pytest.raises(InvalidInput, match="comment is required"):
            example_review(example=example, user=team.reviewer, decision="request_changes")

    def test_second_reviewer_with_stale_revision_gets_a_conflict(self, team: Team) -> None:
        example = create(team, status=ExampleStatus.SUBMITTED)
        example_review(example=example, user=team.reviewer, decision="approve", revision=1)
        with pytest.raises(Conflict):
            example_review(example=example, user=team.lead, decision="reject", revision=1)
        assert Review.objects.filter(example=example).count() == 1


@pytest.mark.django_db
class TestSeparationOfDuties:
    """A reviewer may not approve or reject what they wrote or last edited; leads may, audited."""

    @pytest.mark.parametrize("decision", ["approve", "reject"])
    def test_a_reviewer_cannot_judge_an_example_they_wrote(self, team: Team, decision: str) -> None:
        example = create(team, "reviewer", status=ExampleStatus.SUBMITTED)
        with pytest.raises(PermissionDenied, match="Separation of duties"):
            example_review(example=example, user=team.reviewer, decision=decision, revision=1)
        example.refresh_from_db()
        assert (example.status, example.reviews.count()) == (ExampleStatus.SUBMITTED, 0)
        assert not AuditEvent.objects.filter(action__startswith="review.").exists()

    def test_nor_one_they_last_edited_even_after_another_judged_it(self, team: Team) -> None:
        example = create(team, status=ExampleStatus.SUBMITTED)
        example_update(example=example, user=team.reviewer, revision=1, changes={"output": "card_linking"})
        example_review(example=example, user=team.lead, decision="request_changes", comment="why?")
        example_update(example=example, user=team.annotator, revision=3, changes={"status": "submitted"})
        example_review(example=example, user=team.lead, decision="request_changes", comment="again")
        example_update(example=example, user=team.reviewer, revision=5, changes={"input": "Card late?"})
        example_review(example=example, user=team.lead, decision="request_changes", comment="hmm")
        example.refresh_from_db()
        with pytest.raises(PermissionDenied, match="Separation of duties"):
            example_review(example=example, user=team.reviewer, decision="approve", revision=example.revision)

    def test_requesting_changes_on_ones_own_example_stays_open(self, team: Team) -> None:
        example = create(team, "reviewer", status=ExampleStatus.SUBMITTED)
        example_review(example=example, user=team.reviewer, decision="request_changes", comment="fix me")
        assert Review.objects.filter(example=example).count() == 1

    def test_a_lead_may_and_the_audit_log_marks_the_self_review(self, team: Team) -> None:
        example = create(team, "lead", status=ExampleStatus.SUBMITTED)
        example_review(example=example, user=team.lead, decision="approve", revision=1)
        event = AuditEvent.objects.get(action="review.approve")
        assert "self-review" in event.summary and event.changes["self_review"] == [None, True]

    def test_a_review_of_anothers_example_is_no_self_review(self, team: Team) -> None:
        example = create(team, status=ExampleStatus.SUBMITTED)
        example_review(example=example, user=team.reviewer, decision="approve", revision=1)
        event = AuditEvent.objects.get(action="review.approve")
        assert "self-review" not in event.summary and "self_review" not in event.changes

    def test_with_the_setting_off_a_reviewer_may_and_it_is_audited(self, team: Team) -> None:
        team.project.reviewers_may_not_review_own = False
        team.project.save()
        example = create(team, "reviewer", status=ExampleStatus.SUBMITTED)
        example_review(example=example, user=team.reviewer, decision="approve", revision=1)
        assert "self-review" in AuditEvent.objects.get(action="review.approve").summary
