"""The validation job re-checks examples against changed project settings."""

import pytest

from curation.models import Flag, JobStatus, ValidationJob
from curation.services.jobs import job_run
from curation.services.projects import project_update
from curation.services.validation_jobs import examples_validate
from tests.conftest import Team
from tests.factories import ExampleFactory


def run_validation(team: Team) -> ValidationJob:
    job = ValidationJob.objects.create(project=team.project, created_by=team.lead)
    job_run(ValidationJob, job.pk, examples_validate)
    job.refresh_from_db()
    return job


@pytest.mark.django_db
def test_removed_label_raises_one_format_flag_per_example(team: Team) -> None:
    keep = ExampleFactory.create(project=team.project, output="card_arrival")
    stale = ExampleFactory.create(project=team.project, output="exchange_rate")
    project_update(project=team.project, user=team.lead, changes={"labels": ["card_arrival", "card_linking"]})

    job = run_validation(team)

    assert (job.status, job.checked, job.invalid, job.flags_raised) == (JobStatus.SUCCEEDED, 2, 1, 1)
    flag = Flag.objects.get()
    assert (flag.kind, flag.raised_by, flag.job) == ("format", "job", f"validation-job:{job.pk}")
    assert list(flag.examples.all()) == [stale]
    assert "'exchange_rate' is not one of the project's labels" in flag.note
    assert not keep.flags.exists()


@pytest.mark.django_db
def test_rerun_raises_no_duplicate_flags(team: Team) -> None:
    ExampleFactory.create(project=team.project, output="exchange_rate")
    project_update(project=team.project, user=team.lead, changes={"labels": ["card_arrival", "card_linking"]})
    run_validation(team)
    second = run_validation(team)
    assert (second.invalid, second.flags_raised, Flag.objects.count()) == (1, 0, 1)


@pytest.mark.django_db
def test_a_finished_job_is_not_run_again(team: Team) -> None:
    job = run_validation(team)
    finished_at = job.finished_at
    job_run(ValidationJob, job.pk, examples_validate)
    job.refresh_from_db()
    assert job.finished_at == finished_at


@pytest.mark.django_db
def test_a_failing_job_records_the_error(team: Team) -> None:
    job = ValidationJob.objects.create(project=team.project)

    def explode(job: ValidationJob, progress: object) -> None:
        raise RuntimeError("disk full")

    job_run(ValidationJob, job.pk, explode)
    job.refresh_from_db()
    assert (job.status, job.error) == (JobStatus.FAILED, "disk full")
    assert "RuntimeError" in job.traceback
