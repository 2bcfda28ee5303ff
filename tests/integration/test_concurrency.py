"""Several people (or workers) at once: parallel edits of one example, parallel freezes of one
project, and a dedup job running while annotators edit. Each actor runs in its own thread with
its own database connection, released together by a barrier. On PostgreSQL they really overlap;
on SQLite writes serialize, and the same promises must hold there too.
Two leads removing or demoting each other at once keep one lead.
(Parallel imports of one file: tests/integration/test_concurrent_import.py.)
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection

from curation.errors import Conflict
from curation.models import (
    AuditEvent,
    DatasetVersion,
    DedupJob,
    Example,
    ExampleRevision,
    ExampleStatus,
    JobStatus,
    Membership,
    Role,
    VersionItem,
    VersionStatus,
)
from curation.services.dedup import dedup_start
from curation.services.examples import example_update
from curation.services.jobs import job_run
from curation.services.projects import membership_remove, membership_set
from curation.services.versions import included_examples, version_create
from tests.conftest import Team
from tests.factories import ExampleFactory

pytestmark = [
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("media_in_tmp"),
]

TIMEOUT_S = 120.0


def at_once(actions: list[Callable[[], Any]]) -> list[Any]:
    """Run the actions in parallel threads released together; each one's result or exception."""
    barrier = threading.Barrier(len(actions), timeout=TIMEOUT_S)
    outcomes: list[Any] = [None] * len(actions)

    def work(index: int) -> None:
        try:
            barrier.wait()
            outcomes[index] = actions[index]()
        except Exception as exc:
            outcomes[index] = exc
        finally:
            connection.close()  # this thread's own connection

    threads = [threading.Thread(target=work, args=(index,)) for index in range(len(actions))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT_S)
    assert not any(thread.is_alive() for thread in threads), "an actor did not finish"
    return outcomes


def test_parallel_edits_of_one_example_keep_exactly_one_and_refuse_the_others_with_409(team: Team) -> None:
    # Given an example at revision 1, and six editors who all loaded revision 1
    example = ExampleFactory.create(project=team.project, input="Where is my card?", output="card_arrival")
    editors = [team.annotator, team.reviewer, team.lead] * 2
    labels = [f"edit-{n}" for n in range(len(editors))]

    def edit(user: Any, text: str) -> Callable[[], Any]:
        def run() -> Any:
            stale = Example.objects.get(pk=example.pk)
            return example_update(example=stale, user=user, revision=1, changes={"input": f"{text}?"})

        return run

    # When they all save at once
    outcomes = at_once([edit(user, label) for user, label in zip(editors, labels, strict=True)])

    # Then one edit won, every other one is a conflict naming the revision, and nothing is lost
    winners = [index for index, outcome in enumerate(outcomes) if isinstance(outcome, Example)]
    assert len(winners) == 1, outcomes
    losers = [outcome for outcome in outcomes if not isinstance(outcome, Example)]
    assert all(isinstance(outcome, Conflict) for outcome in losers), losers
    example.refresh_from_db()
    assert (example.input, example.revision) == (f"{labels[winners[0]]}?", 2)
    assert ExampleRevision.objects.filter(example=example).count() == 1  # revision 1, kept by the one edit
    assert AuditEvent.objects.filter(action="example.update", target_id=example.pk).count() == 1


def test_parallel_freezes_of_one_project_never_overlap_and_each_version_is_whole(team: Team) -> None:
    # Given a project with 300 approved examples and four leads pressing "Freeze" together
    for number in range(300):
        ExampleFactory.create(
            project=team.project, status=ExampleStatus.APPROVED, input=f"Question {number}?"
        )
    expected_items = included_examples(team.project).count()

    def freeze() -> DatasetVersion:
        return version_create(project=team.project, user=team.lead, eval_fraction=0.1)

    outcomes = at_once([freeze] * 4)

    # Then each press either froze a whole version or was refused because one was freezing
    versions = [outcome for outcome in outcomes if isinstance(outcome, DatasetVersion)]
    refusals = [outcome for outcome in outcomes if not isinstance(outcome, DatasetVersion)]
    assert versions, outcomes
    assert all(isinstance(outcome, Conflict) and "still freezing" in str(outcome) for outcome in refusals)
    stored = DatasetVersion.objects.filter(project=team.project).order_by("number")
    assert [version.number for version in stored] == list(range(1, len(versions) + 1))
    for version in stored:
        assert version.status == VersionStatus.FROZEN, version.error
        assert VersionItem.objects.filter(version=version).count() == expected_items
    assert len({version.sha256 for version in stored}) == 1  # same data, same seed: the same bytes


def test_a_dedup_job_running_while_annotators_edit_loses_no_edit(team: Team) -> None:
    # Given 400 examples, 40 of them exact duplicates of another
    originals = [
        ExampleFactory.create(project=team.project, input=f"Where is card number {n}?") for n in range(360)
    ]
    for original in originals[:40]:
        ExampleFactory.create(project=team.project, input=original.input.upper(), output=original.output)
    edited = originals[200:260]
    job = DedupJob.objects.create(project=team.project, method="exact")

    def dedup() -> None:
        job_run(DedupJob, job.pk, dedup_start)

    def annotate(examples: list[Example]) -> Callable[[], int]:
        def run() -> int:
            for example in examples:
                fresh = Example.objects.get(pk=example.pk)
                example_update(
                    example=fresh,
                    user=team.annotator,
                    revision=fresh.revision,
                    changes={"output": "card_linking"},
                )
            return len(examples)

        return run

    # When the job runs while two annotators edit 60 examples
    outcomes = at_once([dedup, annotate(edited[:30]), annotate(edited[30:])])

    # Then the job succeeded with the duplicates found, and every edit is there
    assert outcomes == [None, 30, 30], outcomes
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED, f"{job.error}\n{job.traceback}"
    assert (job.clusters, job.duplicates_marked) == (40, 40)
    outputs = Example.objects.filter(pk__in=[example.pk for example in edited]).values_list(
        "output", flat=True
    )
    assert set(outputs) == {"card_linking"}
    assert Example.objects.filter(pk__in=[example.pk for example in edited], revision=2).count() == 60


@pytest.mark.parametrize("second_move", ["remove", "demote"])
def test_two_leads_removing_each_other_at_once_leave_the_project_a_lead(team: Team, second_move: str) -> None:
    # Given a project with exactly two leads
    membership_set(project=team.project, user=team.lead, username=team.reviewer.username, role=Role.LEAD)
    leads = [team.lead, team.reviewer]

    def step_out(actor: Any, other: Any, move: str) -> Callable[[], Any]:
        def run() -> Any:
            if move == "remove":
                return membership_remove(project=team.project, user=actor, username=other.username)
            return membership_set(
                project=team.project, user=actor, username=other.username, role=Role.ANNOTATOR
            )

        return run

    # When each removes (or demotes) the other at the same moment, several times over
    for _ in range(5):
        outcomes = at_once(
            [step_out(leads[0], leads[1], "remove"), step_out(leads[1], leads[0], second_move)]
        )

        # Then one change went through and the other was refused: a lead is left
        refusals = [outcome for outcome in outcomes if isinstance(outcome, Exception)]
        assert len(refusals) == 1 and "at least one lead" in str(refusals[0]), outcomes
        assert Membership.objects.filter(project=team.project, role=Role.LEAD).count() == 1
        restore = [
            user for user in leads if not Membership.objects.filter(user=user, role=Role.LEAD).exists()
        ]
        membership_set(project=team.project, user=None, username=restore[0].username, role=Role.LEAD)
