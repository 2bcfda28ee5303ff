"""Export jobs (issue 20, fault 1: large exports were cut off at the web timeout and looked whole).

Exports of any size run as a job whose file is served from storage with its Content-Length, its
row count and sha256 recorded only once the file is whole; the streaming endpoint refuses (413,
naming the job) what it could not finish within a request; versions are served from stored files.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.files.storage import default_storage
from django.utils import timezone
from pytest_django import Settings
from rest_framework.test import APIClient

from curation.models import AuditEvent, ExampleStatus, ExportJob, JobStatus
from curation.services.export_jobs import exports_expire, partial_path
from curation.services.reaping import curation_jobs_reap
from curation.services.versions import version_create
from tests.api.support import error_fields
from tests.conftest import Team
from tests.curation.test_reaper import went_silent
from tests.factories import LABELS, ExampleFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_in_tmp")]

ClientFor = Callable[[User | None], APIClient]


@pytest.fixture(autouse=True)
def scratch_in_tmp(settings: Settings, tmp_path: Path) -> None:
    settings.FILE_UPLOAD_TEMP_DIR = tmp_path / "scratch"


def examples(team: Team, count: int, status: str = ExampleStatus.DRAFT, word: str = "card") -> None:
    for index in range(count):
        ExampleFactory.create(
            project=team.project,
            input=f"Where is my {word} {index}?",
            output=LABELS[index % len(LABELS)],
            status=status,
        )


def body(response: Any) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def run_export(client: APIClient, url: str, data: dict[str, Any], capture: Any) -> dict[str, Any]:
    with capture(execute=True):
        started = client.post(url, data, format="json")
    assert started.status_code == 202, started.content
    job: dict[str, Any] = client.get(f"/api/exports/{started.json()['id']}/").json()
    return job


class TestProjectExportJob:
    def test_the_file_is_whole_with_its_row_count_sha256_and_content_length(
        self, team: Team, client_for: ClientFor, django_capture_on_commit_callbacks: Any
    ) -> None:
        # Given approved and draft examples
        examples(team, 5, ExampleStatus.APPROVED)
        examples(team, 3, ExampleStatus.DRAFT, word="rate")
        client = client_for(team.annotator)
        # When an annotator exports the approved ones as a job
        url = f"/api/projects/{team.project.pk}/exports/"
        job = run_export(
            client, url, {"format": "jsonl", "status": "approved"}, django_capture_on_commit_callbacks
        )
        # Then the job succeeded and describes its file
        assert job["status"] == "succeeded" and job["progress"] == 1.0
        assert (job["total"], job["row_count"], job["filters"]) == (5, 5, {"status": "approved"})
        download = client.get(job["download_url"])
        data = body(download)
        assert download.status_code == 200
        assert int(download["Content-Length"]) == len(data) == job["size"]
        assert hashlib.sha256(data).hexdigest() == job["sha256"]
        lines = [json.loads(line) for line in data.decode().splitlines()]
        assert len(lines) == 5 and {line["status"] for line in lines} == {"approved"}
        # And it holds the same bytes as the streaming export with the same filters
        streamed = client.get(
            f"/api/projects/{team.project.pk}/examples/export/?format=jsonl&status=approved"
        )
        assert body(streamed) == data

    def test_csv_with_boolean_and_text_filters(
        self, team: Team, client_for: ClientFor, django_capture_on_commit_callbacks: Any
    ) -> None:
        examples(team, 4)
        examples(team, 2, word="xyzzy")
        client = client_for(team.reviewer)
        url = f"/api/projects/{team.project.pk}/exports/"
        filters = {"format": "csv", "q": "xyzzy", "duplicate": False, "flagged": "false"}
        job = run_export(client, url, filters, django_capture_on_commit_callbacks)
        assert job["status"] == "succeeded" and job["row_count"] == 2
        assert job["filters"] == {"q": "xyzzy", "duplicate": "false", "flagged": "false"}
        download = client.get(f"/api/exports/{job['id']}/download/")
        assert download["Content-Type"].startswith("text/csv")
        assert body(download).decode().count("xyzzy") == 2

    def test_starting_an_export_is_audited(
        self, team: Team, client_for: ClientFor, django_capture_on_commit_callbacks: Any
    ) -> None:
        examples(team, 1)
        url = f"/api/projects/{team.project.pk}/exports/"
        job = run_export(
            client_for(team.annotator), url, {"source": "factory"}, django_capture_on_commit_callbacks
        )
        event = AuditEvent.objects.get(action="export.start")
        assert (event.target_type, event.target_id, event.actor) == ("exportjob", job["id"], team.annotator)

    @pytest.mark.parametrize(
        ("data", "field"),
        [
            ({"format": "xml"}, "format"),
            ({"status": "lost"}, "status"),
            ({"flagged": "maybe"}, "flagged"),
            ({"q": "a\x00b"}, "q"),
            ({"colour": "red"}, "colour"),
        ],
    )
    def test_a_bad_format_or_filter_is_400_naming_it_and_no_job_is_made(
        self, team: Team, client_for: ClientFor, data: dict[str, Any], field: str
    ) -> None:
        response = client_for(team.annotator).post(
            f"/api/projects/{team.project.pk}/exports/", data, format="json"
        )
        assert response.status_code == 400
        assert field in error_fields(response)
        assert not ExportJob.objects.exists()

    def test_there_is_nothing_to_download_before_the_job_succeeds(
        self, team: Team, client_for: ClientFor
    ) -> None:
        job = ExportJob.objects.create(project=team.project, status=JobStatus.RUNNING)
        response = client_for(team.annotator).get(f"/api/exports/{job.pk}/download/")
        assert response.status_code == 409
        assert client_for(team.annotator).get(f"/api/exports/{job.pk}/").json()["download_url"] is None

    def test_the_project_lists_its_exports(
        self, team: Team, client_for: ClientFor, django_capture_on_commit_callbacks: Any
    ) -> None:
        examples(team, 1)
        url = f"/api/projects/{team.project.pk}/exports/"
        job = run_export(client_for(team.lead), url, {}, django_capture_on_commit_callbacks)
        listed = client_for(team.annotator).get(url).json()["results"]
        assert [row["id"] for row in listed] == [job["id"]]


class TestRetention:
    def test_an_expired_file_is_deleted_and_the_download_answers_410(
        self, team: Team, client_for: ClientFor, django_capture_on_commit_callbacks: Any
    ) -> None:
        examples(team, 2)
        client = client_for(team.annotator)
        job = run_export(
            client, f"/api/projects/{team.project.pk}/exports/", {}, django_capture_on_commit_callbacks
        )
        row = ExportJob.objects.get(pk=job["id"])
        assert default_storage.exists(row.file_name)
        assert row.expires_at is not None and row.expires_at > timezone.now() + timedelta(hours=23)
        # A job not yet due is kept
        assert exports_expire() == 0
        # When its retention has passed and beat runs the expiry
        ExportJob.objects.filter(pk=row.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
        assert exports_expire() == 1
        # Then its file is gone, and the job says so
        assert not default_storage.exists(row.file_name)
        shown = client.get(f"/api/exports/{row.pk}/").json()
        assert (shown["expired"], shown["download_url"], shown["status"]) == (True, None, "succeeded")
        response = client.get(f"/api/exports/{row.pk}/download/")
        assert response.status_code == 410 and "export again" in response.json()["detail"]

    def test_the_retention_is_a_setting(
        self, team: Team, client_for: ClientFor, settings: Settings, django_capture_on_commit_callbacks: Any
    ) -> None:
        settings.FINCH_EXPORT_RETENTION_HOURS = 2
        examples(team, 1)
        url = f"/api/projects/{team.project.pk}/exports/"
        job = run_export(client_for(team.annotator), url, {}, django_capture_on_commit_callbacks)
        row = ExportJob.objects.get(pk=job["id"])
        assert row.finished_at is not None and row.expires_at is not None
        assert timedelta(hours=1.9) < row.expires_at - row.finished_at < timedelta(hours=2.1)


class TestStreamingLimit:
    def test_above_the_limit_the_streaming_export_refuses_naming_the_export_job(
        self, team: Team, client_for: ClientFor, settings: Settings
    ) -> None:
        # Given more matching examples than the streaming export may send within a request
        settings.FINCH_EXPORT_SYNC_MAX_ROWS = 3
        examples(team, 4)
        client = client_for(team.annotator)
        # When it is asked for them, then it refuses rather than cutting the download off
        response = client.get(f"/api/projects/{team.project.pk}/examples/export/?format=jsonl")
        assert response.status_code == 413
        assert f"POST /api/projects/{team.project.pk}/exports/" in response.json()["detail"]
        # And a filter that brings the count within the limit streams them all
        filtered = client.get(f"/api/projects/{team.project.pk}/examples/export/?q=my+card+1%3F")
        assert filtered.status_code == 200 and len(body(filtered).splitlines()) == 1
        settings.FINCH_EXPORT_SYNC_MAX_ROWS = 4
        whole = client.get(f"/api/projects/{team.project.pk}/examples/export/")
        assert whole.status_code == 200 and len(body(whole).splitlines()) == 4


class TestReaper:
    def test_a_dead_workers_export_is_failed_and_its_partial_file_removed(self, team: Team) -> None:
        # Given an export whose worker died while writing its partial file
        job = ExportJob.objects.create(project=team.project, status=JobStatus.RUNNING, total=10)
        partial = partial_path(job)
        partial.parent.mkdir(parents=True, exist_ok=True)
        partial.write_bytes(b'{"id": 1}\n')
        went_silent(job)
        # When the reaper runs
        assert curation_jobs_reap() == 1
        # Then the job failed saying so, with no count, hash or file, and the partial file is gone
        job.refresh_from_db()
        assert job.status == JobStatus.FAILED and "export again" in job.error
        assert (job.row_count, job.sha256, job.file_name) == (None, "", "")
        assert not partial.exists()


def frozen_version(team: Team, count: int) -> Any:
    examples(team, count, ExampleStatus.APPROVED)
    return version_create(project=team.project, user=team.lead, eval_fraction=0.25)


class TestVersionExports:
    def test_jsonl_is_served_from_the_files_stored_at_freeze_with_content_length(
        self, team: Team, client_for: ClientFor, settings: Settings
    ) -> None:
        version = frozen_version(team, 8)
        settings.FINCH_EXPORT_SYNC_MAX_ROWS = 1  # the stored files are served at any size
        client = client_for(team.annotator)
        for split in ("train", "eval", "all"):
            response = client.get(f"/api/versions/{version.pk}/export/?split={split}&format=jsonl")
            data = body(response)
            assert response.status_code == 200 and int(response["Content-Length"]) == len(data)
            if split == "all":
                assert hashlib.sha256(data).hexdigest() == version.sha256
        train = client.get(f"/api/versions/{version.pk}/export/?split=train")
        assert "attachment" in train["Content-Disposition"]

    def test_a_large_version_in_another_format_is_exported_by_a_job_then_served_from_its_file(
        self, team: Team, client_for: ClientFor, settings: Settings, django_capture_on_commit_callbacks: Any
    ) -> None:
        version = frozen_version(team, 8)
        client = client_for(team.annotator)
        url = f"/api/versions/{version.pk}/export/?split=train&format=openai_chat"
        rendered = body(client.get(url))  # small enough to render within the request
        # Given a limit below the version's size
        settings.FINCH_EXPORT_SYNC_MAX_ROWS = 2
        refused = client.get(url)
        assert refused.status_code == 413
        assert f"POST /api/versions/{version.pk}/exports/" in refused.json()["detail"]
        # When the export runs as a job
        start = f"/api/versions/{version.pk}/exports/"
        job = run_export(
            client, start, {"split": "train", "format": "openai_chat"}, django_capture_on_commit_callbacks
        )
        assert job["status"] == "succeeded" and job["row_count"] == version.counts["train"]
        # Then the job's file and the version's export URL serve the same bytes as the rendering
        served = client.get(url)
        assert served.status_code == 200 and body(served) == rendered
        assert int(served["Content-Length"]) == len(rendered) == job["size"]
        assert hashlib.sha256(rendered).hexdigest() == job["sha256"]

    def test_a_large_versions_hf_zip_is_written_by_a_job_then_served_from_its_file(
        self, team: Team, client_for: ClientFor, settings: Settings, django_capture_on_commit_callbacks: Any
    ) -> None:
        version = frozen_version(team, 8)
        client = client_for(team.annotator)
        url = f"/api/versions/{version.pk}/export/?format=hf_parquet"
        rendered = body(client.get(url))
        settings.FINCH_EXPORT_SYNC_MAX_ROWS = 2
        refused = client.get(url)
        assert refused.status_code == 413 and "/exports/" in refused.json()["detail"]
        start = f"/api/versions/{version.pk}/exports/"
        job = run_export(client, start, {"format": "hf_parquet"}, django_capture_on_commit_callbacks)
        assert job["status"] == "succeeded" and job["row_count"] == 8
        served = client.get(url)
        assert served["Content-Type"] == "application/zip" and body(served) == rendered
        assert (
            int(served["Content-Length"]) == job["size"]
            and hashlib.sha256(rendered).hexdigest() == job["sha256"]
        )

    def test_an_hf_zip_is_of_the_whole_version(self, team: Team, client_for: ClientFor) -> None:
        version = frozen_version(team, 4)
        response = client_for(team.annotator).post(
            f"/api/versions/{version.pk}/exports/", {"format": "hf_parquet", "split": "train"}, format="json"
        )
        assert response.status_code == 400 and error_fields(response) == ["split"]


@pytest.mark.django_db(transaction=True)
def test_an_export_may_write_between_its_chunks_while_others_commit(team: Team) -> None:
    """The 3M-row benchmark on SQLite failed with "database is locked": the export's open read
    cursor made its own progress update fail once the heartbeat thread had committed."""
    import threading

    from django.db import connection

    from curation.models import Example, JobHeartbeat
    from curation.services.exports import CHUNK_ROWS, examples_export

    # Given more examples than one chunk, and an export that has begun reading them
    rows = CHUNK_ROWS * 2 + 5
    Example.objects.bulk_create(
        Example(project=team.project, input=f"Row {n}", output="card_arrival", content_hash=f"{n:064x}")
        for n in range(rows)
    )
    lines = examples_export(project=team.project, examples=team.project.examples.all(), file_format="jsonl")
    next(lines)

    # When another connection commits meanwhile (a heartbeat)
    def beat() -> None:
        JobHeartbeat.objects.create(kind="curation.exportjob", object_id=1, beat_at=timezone.now())
        connection.close()

    other = threading.Thread(target=beat)
    other.start()
    other.join()

    # Then the exporting connection can still write (its progress), and every row is exported
    ExportJob.objects.create(project=team.project, status=JobStatus.RUNNING)
    assert 1 + sum(1 for _ in lines) == rows
