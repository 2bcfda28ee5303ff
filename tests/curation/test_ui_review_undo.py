"""The review card names the open flags and duplicate clusters of its example, and a reviewer can
undo their own last decision from the queue (through the example services: history and audit)."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from curation.models import (
    AuditEvent,
    ClusterMember,
    DedupJob,
    DuplicateCluster,
    Example,
    ExampleStatus,
    FlagKind,
)
from curation.services.flags import flag_create
from tests.conftest import Team
from tests.curation.test_ui_review import card_of, decide, queue_url
from tests.curation.ui_support import HTMX, edited, logged_in, reviewed, text, written


def undo(client: Client, example: Example, revision: int) -> Any:
    return client.post(f"/examples/{example.pk}/review/undo/", {"revision": str(revision)}, **HTMX)


@pytest.mark.django_db
class TestGroupsOnTheCard:
    def test_an_open_flag_and_a_cluster_are_named_with_links(self, team: Team) -> None:
        # Given a submitted example in an open contradiction flag and an active duplicate cluster
        first = written(team.project, team.annotator, "Where is my card?")
        second = written(team.project, team.annotator, "Where is my card now?", "card_linking")
        flag = flag_create(
            project=team.project,
            user=team.annotator,
            kind=FlagKind.CONTRADICTION,
            example_ids=[first.pk, second.pk],
        )
        job = DedupJob.objects.create(project=team.project, method="exact")
        cluster = DuplicateCluster.objects.create(project=team.project, job=job, kept=second)
        for member in (first, second):
            ClusterMember.objects.create(cluster=cluster, example=member, similarity=1.0)

        # When the reviewer opens the queue
        page = text(logged_in(team.reviewer).get(queue_url(team)))

        # Then the card says so, with a link to the flag and to the cluster
        assert card_of(page) == first.pk
        assert "In an open contradiction flag" in page and f'href="/flags/{flag.pk}/"' in page
        assert (
            f'href="/projects/{team.project.pk}/duplicates/?cluster={cluster.pk}#cluster-{cluster.pk}"'
            in page
        )
        assert f"a duplicate of example {second.pk}" in page

    def test_a_resolved_flag_is_not_named(self, team: Team) -> None:
        example = written(team.project, team.annotator, "Where is my card?")
        page = text(logged_in(team.reviewer).get(queue_url(team)))
        assert card_of(page) == example.pk and 'data-testid="review-flag"' not in page


@pytest.mark.django_db
class TestUndo:
    def test_the_reviewer_undoes_their_last_decision(self, team: Team) -> None:
        # Given a decision just made from the queue, whose answer offers an undo
        example = written(team.project, team.annotator, "Where is my card?")
        client = logged_in(team.reviewer)
        answer = text(decide(client, example, "approve"))
        example.refresh_from_db()
        assert example.status == ExampleStatus.APPROVED
        assert f'hx-post="/examples/{example.pk}/review/undo/"' in answer and 'data-key="u"' in answer

        # When the reviewer undoes it
        page = text(undo(client, example, example.revision))

        # Then the example is submitted again, as a new revision, with the history and an audit event
        example.refresh_from_db()
        assert example.status == ExampleStatus.SUBMITTED and example.revision == 3
        assert example.last_change == "review_undone"
        assert [r.status for r in example.revisions.order_by("revision")] == ["submitted", "approved"]
        event = AuditEvent.objects.get(action="review.undo")
        assert event.actor == team.reviewer and event.changes["status"] == ["approved", "submitted"]
        assert card_of(page) == example.pk and "is submitted again" in page

    def test_after_an_undo_the_reviewer_decides_again_and_keeps_the_example_in_the_queue(
        self, team: Team
    ) -> None:
        # Given a reviewer's approval undone (the project forbids reviewing one's own work)
        assert team.project.reviewers_may_not_review_own
        example = written(team.project, team.annotator, "Where is my card?")
        client = logged_in(team.reviewer)
        decide(client, example, "approve")
        example.refresh_from_db()
        undo(client, example, example.revision)
        example.refresh_from_db()

        # Then the undo did not make the reviewer the example's author: it is back in their
        # queue, and they may reject it now
        assert card_of(text(client.get(queue_url(team)))) == example.pk
        decide(client, example, "reject")
        example.refresh_from_db()
        assert example.status == ExampleStatus.REJECTED and example.last_change == "reviewed"

    def test_only_the_reviewers_own_last_decision(self, team: Team) -> None:
        example = written(team.project, team.annotator, "Where is my card?")
        reviewed(example, team.reviewer, "reject")
        example.refresh_from_db()
        page = text(undo(logged_in(team.lead), example, example.revision))
        example.refresh_from_db()
        assert example.status == ExampleStatus.REJECTED and "Only your own last decision" in page

    def test_not_after_someone_changed_the_example(self, team: Team) -> None:
        example = written(team.project, team.annotator, "Where is my card?")
        reviewed(example, team.reviewer, "request_changes", "Say which card.")
        example.refresh_from_db()
        read = example.revision
        edited(example, team.annotator, output="card_linking")
        page = text(undo(logged_in(team.reviewer), example, read))
        example.refresh_from_db()
        assert example.status == ExampleStatus.NEEDS_CHANGES and example.last_change == "edited"
        assert "changed since you read it" in page

    def test_an_annotator_may_not_undo(self, team: Team) -> None:
        example = written(team.project, team.annotator, "Where is my card?")
        reviewed(example, team.reviewer, "approve")
        example.refresh_from_db()
        response = logged_in(team.annotator, raise_errors=False).post(
            f"/examples/{example.pk}/review/undo/", {"revision": str(example.revision)}
        )
        assert response.status_code == 403
