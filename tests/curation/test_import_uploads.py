"""Uploaded import files do not stay on disk: each is deleted once its job has finished (or
FINCH_UPLOAD_RETENTION_DAYS later), and a project may hold only so many bytes of uploads not yet
imported (issue 20, fault 7)."""

from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core.files.uploadedfile import SimpleUploadedFile, TemporaryUploadedFile
from django.core.management import call_command
from django.test import Client
from django.utils import timezone
from pytest_django import DjangoCaptureOnCommitCallbacks, Settings

from curation.models import ImportJob, JobStatus
from curation.services.imports import import_job_create
from curation.services.reaping import import_fail_stale
from curation.tasks import import_examples
from tests.conftest import Team
from tests.curation.test_imports import Api, ClientFor
from tests.factories import ProjectFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_in_tmp")]

GOOD_AND_BAD = (
    b'{"input": "Where is my card?", "output": "card_arrival"}\n{"input": "Rate?", "output": "nope"}\n'
)
BINARY = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 8


@pytest.fixture
def api(client_for: ClientFor, django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks) -> Api:
    return Api(client_for, django_capture_on_commit_callbacks)


def uploads_on_disk() -> list[Path]:
    return [path for path in (Path(django_settings.MEDIA_ROOT) / "imports").rglob("*") if path.is_file()]


def queued(team: Team, content: bytes) -> ImportJob:
    """A job whose upload is stored and which no worker has run yet."""
    return import_job_create(
        project=team.project,
        user=team.annotator,
        upload=io.BytesIO(content),
        filename="rows.jsonl",
        queue=False,
    )


@pytest.mark.parametrize(
    ("content", "status"),
    [
        pytest.param(GOOD_AND_BAD, "succeeded", id="succeeded"),
        pytest.param(BINARY, "failed", id="binary-refused"),
    ],
)
def test_given_an_import_when_its_job_finishes_then_its_upload_is_deleted_and_its_report_kept(
    team: Team, api: Api, content: bytes, status: str
) -> None:
    job = api.imported(team.annotator, team.project, content, "rows.jsonl")

    assert job["status"] == status
    assert uploads_on_disk() == []
    assert ImportJob.objects.get(pk=job["id"]).file.name == ""
    report = api.client_for(team.annotator).get(f"/api/imports/{job['id']}/errors.csv")
    assert report.status_code == 200
    if status == "succeeded":
        assert "not one of the project's labels" in report.content.decode()


def test_given_an_upload_spooled_to_disk_when_its_job_is_created_then_the_file_is_moved_not_copied(
    team: Team, settings: Settings
) -> None:
    settings.FILE_UPLOAD_TEMP_DIR = str(Path(settings.MEDIA_ROOT).parent)  # beside media, as configured
    upload = TemporaryUploadedFile("rows.jsonl", "application/jsonl", len(GOOD_AND_BAD), None)
    upload.write(GOOD_AND_BAD)
    upload.flush()
    spooled = Path(upload.temporary_file_path())

    job = import_job_create(
        project=team.project, user=team.annotator, upload=upload, filename="rows.jsonl", queue=False
    )
    moved = not spooled.exists()  # renamed into storage: a copy leaves it until it is closed
    upload.close()  # as Django closes a request's uploads

    assert moved
    assert Path(job.file.path).read_bytes() == GOOD_AND_BAD
    assert job.size == len(GOOD_AND_BAD)


def test_given_the_import_command_when_it_finishes_then_the_stored_copy_is_deleted(
    team: Team, tmp_path: Path
) -> None:
    given = tmp_path / "rows.jsonl"
    given.write_bytes(GOOD_AND_BAD)

    out, err = io.StringIO(), io.StringIO()
    call_command(
        "import_examples",
        str(team.project.pk),
        str(given),
        "--user",
        team.lead.username,
        stdout=out,
        stderr=err,
    )

    assert ImportJob.objects.get().status == JobStatus.SUCCEEDED
    assert uploads_on_disk() == [] and given.exists()


def test_given_a_running_import_whose_worker_died_when_reaped_then_its_upload_is_deleted(team: Team) -> None:
    job = queued(team, GOOD_AND_BAD)
    ImportJob.objects.filter(pk=job.pk).update(status=JobStatus.RUNNING, started_at=timezone.now())
    assert len(uploads_on_disk()) == 1

    assert import_fail_stale(ImportJob.objects.get(pk=job.pk), "The worker stopped.")

    assert uploads_on_disk() == []


def test_given_a_retention_when_imports_finish_then_uploads_stay_until_it_has_passed(
    team: Team, settings: Settings
) -> None:
    from curation.services.import_uploads import expired_uploads_delete  # new with the retention

    settings.FINCH_UPLOAD_RETENTION_DAYS = 2
    finished, waiting = queued(team, GOOD_AND_BAD), queued(team, GOOD_AND_BAD)
    import_examples(finished.pk)
    assert len(uploads_on_disk()) == 2

    assert expired_uploads_delete(now=timezone.now() + timedelta(days=1)) == 0
    assert expired_uploads_delete(now=timezone.now() + timedelta(days=3)) == 1

    assert uploads_on_disk() == [Path(settings.MEDIA_ROOT) / waiting.file.name]  # not finished: kept
    assert ImportJob.objects.get(pk=finished.pk).errors  # the report stays
    assert (
        settings.CELERY_BEAT_SCHEDULE["delete-expired-uploads"]["task"] == "curation.delete_expired_uploads"
    )


def test_given_pending_uploads_at_the_quota_when_uploading_more_then_413_names_the_limit(
    team: Team, api: Api, settings: Settings
) -> None:
    # Given a project whose queued imports hold 100 of its 150 bytes
    settings.FINCH_PROJECT_PENDING_UPLOAD_BYTES = 150
    waiting = queued(team, b"x" * 100)

    # When a member uploads 51 bytes more, over the API and on the import page
    client = api.client_for(team.annotator)
    refused = client.post(
        f"/api/projects/{team.project.pk}/imports/", {"file": SimpleUploadedFile("more.jsonl", b"y" * 51)}
    )
    page = Client()
    page.force_login(team.annotator)
    form = {"file": SimpleUploadedFile("more.jsonl", b"y" * 51), "format": "auto", "status": "draft"}
    refused_page = page.post(f"/projects/{team.project.pk}/import/", form)

    # Then both answer 413 naming the limit, and nothing more is stored
    assert refused.status_code == 413
    (error,) = refused.json()["errors"]
    assert error["field"] == "file" and "FINCH_PROJECT_PENDING_UPLOAD_BYTES" in error["message"]
    assert refused_page.status_code == 413
    assert "FINCH_PROJECT_PENDING_UPLOAD_BYTES" in refused_page.content.decode()
    assert list(ImportJob.objects.values_list("pk", flat=True)) == [waiting.pk]
    assert len(uploads_on_disk()) == 1

    # And 50 bytes fit; another project has its own quota; once the import ran, room is back
    accepted = client.post(
        f"/api/projects/{team.project.pk}/imports/", {"file": SimpleUploadedFile("fits.jsonl", b"z" * 50)}
    )
    assert accepted.status_code == 202
    other = ProjectFactory.create()
    assert import_job_create(
        project=other, user=team.lead, upload=io.BytesIO(b"y" * 140), filename="x.jsonl", queue=False
    ).pk
    import_examples(waiting.pk)
    again = client.post(
        f"/api/projects/{team.project.pk}/imports/", {"file": SimpleUploadedFile("more.jsonl", b"y" * 51)}
    )
    assert again.status_code == 202
