"""A job queued by someone who has left its project since, or whose account was deactivated,
does nothing when a worker takes it (curation/services/jobs.py creator_gone): an approved
import queued by a lead removed before it ran landed as theirs."""

from __future__ import annotations

import io

import pytest

from curation.models import DedupJob, Example, ImportJob, JobStatus, Membership
from curation.services.imports import import_job_create
from curation.tasks import dedup_examples, import_examples
from tests.conftest import Team
from tests.factories import ExampleFactory

pytestmark = pytest.mark.django_db


def queued_import(team: Team) -> ImportJob:
    return import_job_create(
        project=team.project,
        user=team.lead,
        upload=io.BytesIO(b'{"input": "Where is my card?", "output": "card_arrival"}\n'),
        filename="rows.jsonl",
        status="approved",
        queue=False,
    )


def test_an_import_queued_by_a_member_removed_since_does_nothing(team: Team) -> None:
    # Given an approved import a lead queued, and the lead removed before a worker took it
    job = queued_import(team)
    Membership.objects.filter(project=team.project, user=team.lead).delete()

    # When a worker takes it
    import_examples(job.pk)

    # Then it failed naming why, and nothing landed
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED and job.finished_at is not None
    assert job.error == (
        f"{team.lead.username} is no longer a member of project '{team.project.name}'; "
        "the job they queued did nothing."
    )
    assert not Example.objects.filter(project=team.project).exists()


def test_a_job_of_a_deactivated_account_does_nothing(team: Team) -> None:
    ExampleFactory.create(project=team.project, input="Where is my card?")
    ExampleFactory.create(project=team.project, input="where is my card")
    job = DedupJob.objects.create(project=team.project, created_by=team.lead, method="exact", threshold=1.0)
    team.lead.is_active = False
    team.lead.save(update_fields=["is_active"])

    dedup_examples(job.pk)

    job.refresh_from_db()
    assert job.status == JobStatus.FAILED and "deactivated" in job.error
    assert not team.project.duplicate_clusters.exists()


def test_a_member_still_in_the_project_runs_their_job(team: Team) -> None:
    job = queued_import(team)

    import_examples(job.pk)

    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED
    assert Example.objects.filter(project=team.project, status="approved").count() == 1
