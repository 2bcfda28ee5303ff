"""Example services: creation, edits under optimistic concurrency, reviews, history."""

from typing import Any

import pytest

from curation.errors import Conflict, InvalidInput, PermissionDenied
from curation.models import Example, ExampleStatus, Review
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

    def test_reviewer_can_create_approved(self, team: Team) -> None:
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
        example = create(team, "reviewer", status=ExampleStatus.APPROVED)
        example_update(example=example, user=team.annotator, revision=1, changes={"output": "card_linking"})
        assert example.status == ExampleStatus.SUBMITTED

    def test_reviewer_edit_of_approved_content_stays_approved(self, team: Team) -> None:
        example = create(team, "reviewer", status=ExampleStatus.APPROVED)
        example_update(example=example, user=team.reviewer, revision=1, changes={"output": "card_linking"})
        assert example.status == ExampleStatus.APPROVED

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
