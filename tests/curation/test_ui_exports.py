"""The web UI's exports (issue 20, fault 1): the dashboard's and the browse page's export buttons
start an export job and lead to its page, with a progress bar while it runs and the download, row
count and sha256 once the file is whole; a version too large to render within a request offers
an export job for its other formats."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
from pytest_django import Settings

from curation.models import ExampleStatus, ExportJob, JobStatus
from curation.services.versions import version_create
from tests.conftest import Team
from tests.curation.ui_support import HTMX, logged_in, text
from tests.factories import ExampleFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_in_tmp")]


@pytest.fixture(autouse=True)
def scratch_in_tmp(settings: Settings, tmp_path: Path) -> None:
    settings.FILE_UPLOAD_TEMP_DIR = tmp_path / "scratch"


def examples(team: Team, count: int, status: str = ExampleStatus.DRAFT) -> None:
    for index in range(count):
        ExampleFactory.create(project=team.project, input=f"Where is {status} card {index}?", status=status)


def test_the_dashboard_exports_through_a_job_and_its_page_offers_the_whole_file(
    team: Team, django_capture_on_commit_callbacks: Any
) -> None:
    # Given a project with examples, and an annotator on its dashboard
    examples(team, 6)
    client = logged_in(team.annotator)
    assert 'name="format" value="jsonl"' in text(client.get(f"/projects/{team.project.pk}/"))
    # When they press "Export JSONL"
    with django_capture_on_commit_callbacks(execute=True):
        started = client.post(f"/projects/{team.project.pk}/exports/", {"format": "jsonl"})
    # Then an export job ran and its page offers the file, with its row count and sha256
    job = ExportJob.objects.get()
    assert started.status_code == 302 and started["Location"] == f"/exports/{job.pk}/"
    assert job.status == JobStatus.SUCCEEDED and job.row_count == 6
    page = text(client.get(started["Location"]))
    assert f"/api/exports/{job.pk}/download/" in page and "6 rows" in page and job.sha256 in page
    download = client.get(f"/api/exports/{job.pk}/download/")
    data = b"".join(download.streaming_content)  # type: ignore[attr-defined]
    assert hashlib.sha256(data).hexdigest() == job.sha256 and int(download["Content-Length"]) == len(data)


def test_a_running_export_shows_a_progress_bar_that_follows_the_job(team: Team) -> None:
    job = ExportJob.objects.create(project=team.project, status=JobStatus.RUNNING, progress=0.4, total=10)
    page = text(logged_in(team.annotator).get(f"/exports/{job.pk}/"))
    assert 'id="job-bar" style="width: 40%"' in page
    assert f'data-url="/api/exports/{job.pk}/"' in page and 'data-finished="0"' in page
    assert "/download/" not in page


def test_the_browse_pages_export_takes_its_filters(
    team: Team, django_capture_on_commit_callbacks: Any
) -> None:
    examples(team, 3, ExampleStatus.APPROVED)
    examples(team, 2)
    client = logged_in(team.annotator)
    # The rows partial (what htmx swaps in when a filter changes) carries the filters to export
    rows = text(client.get(f"/projects/{team.project.pk}/examples/?status=approved", **HTMX))
    assert '<input type="hidden" name="status" value="approved">' in rows
    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"/projects/{team.project.pk}/exports/", {"format": "csv", "status": "approved"})
    job = ExportJob.objects.get()
    assert (job.format, job.filters, job.row_count) == ("csv", {"status": "approved"}, 3)


def test_a_bad_filter_is_shown_and_starts_nothing(team: Team) -> None:
    client = logged_in(team.annotator)
    response = client.post(f"/projects/{team.project.pk}/exports/", {"format": "xml"}, follow=True)
    assert "Unknown export format" in text(response)
    assert not ExportJob.objects.exists()


def test_a_large_version_offers_an_export_job_for_formats_it_would_render(
    team: Team, settings: Settings, django_capture_on_commit_callbacks: Any
) -> None:
    examples(team, 8, ExampleStatus.APPROVED)
    version = version_create(project=team.project, user=team.lead, eval_fraction=0.25)
    client = logged_in(team.annotator)
    settings.FINCH_EXPORT_SYNC_MAX_ROWS = 3
    page = text(client.get(f"/versions/{version.pk}/"))
    # The stored jsonl files are links at any size; train in other formats is prepared by a job
    assert f"/api/versions/{version.pk}/export/?split=all&amp;format=jsonl" in page
    assert "prepare train.jsonl" in page and "prepare the zip" in page
    with django_capture_on_commit_callbacks(execute=True):
        started = client.post(f"/versions/{version.pk}/exports/", {"split": "train", "format": "alpaca"})
    job = ExportJob.objects.get()
    assert started["Location"] == f"/exports/{job.pk}/" and job.status == JobStatus.SUCCEEDED
    # Once prepared, the version page links the stored file
    page = text(client.get(f"/versions/{version.pk}/"))
    assert f"/api/versions/{version.pk}/export/?split=train&amp;format=alpaca" in page
