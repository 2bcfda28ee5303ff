"""The import pages of the web UI: upload, progress page, errors, role limits."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from curation.models import Example, ImportJob, LabelingItem
from tests.conftest import Team


def logged_in(user: object) -> Client:
    client = Client()
    client.force_login(user)  # type: ignore[arg-type]
    return client


def upload(name: str, content: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="application/octet-stream")


GOOD_AND_BAD = b'{"text": "Where is my card?", "label": "card_arrival"}\n{"text": "Rate?", "label": "nope"}\n'


@pytest.mark.django_db
class TestImportPage:
    def test_member_sees_the_form_and_non_member_gets_404(self, team: Team) -> None:
        url = f"/projects/{team.project.pk}/import/"
        assert logged_in(team.annotator).get(url).status_code == 200
        assert logged_in(team.outsider).get(url).status_code == 404

    def test_annotator_may_not_pick_approved(self, team: Team) -> None:
        page = logged_in(team.annotator).get(f"/projects/{team.project.pk}/import/").content.decode()
        assert 'value="submitted"' in page and 'value="approved"' not in page
        page = logged_in(team.reviewer).get(f"/projects/{team.project.pk}/import/").content.decode()
        assert 'value="approved"' in page

    def test_upload_runs_the_import_and_shows_its_errors(
        self, team: Team, django_capture_on_commit_callbacks: object
    ) -> None:
        client = logged_in(team.annotator)
        with django_capture_on_commit_callbacks(execute=True):  # type: ignore[operator]
            response = client.post(
                f"/projects/{team.project.pk}/import/",
                {"file": upload("rows.jsonl", GOOD_AND_BAD), "format": "auto", "status": "submitted"},
            )
        job = ImportJob.objects.get()
        assert response.status_code == 302 and response["Location"] == f"/imports/{job.pk}/"
        assert (job.status, job.created, job.failed) == ("succeeded", 1, 1)
        assert Example.objects.get().status == "submitted"
        page = client.get(f"/imports/{job.pk}/").content.decode()
        assert "not one of the project&#x27;s labels" in page
        assert f"/api/imports/{job.pk}/errors.csv" in page

    def test_a_lead_fills_the_labeling_queue_from_the_page_and_others_are_not_offered_it(
        self, team: Team, django_capture_on_commit_callbacks: object
    ) -> None:
        url = f"/projects/{team.project.pk}/import/"
        assert 'value="unlabeled"' not in logged_in(team.reviewer).get(url).content.decode()
        lead = logged_in(team.lead)
        assert 'value="unlabeled"' in lead.get(url).content.decode()
        with django_capture_on_commit_callbacks(execute=True):  # type: ignore[operator]
            response = lead.post(
                url, {"file": upload("rows.jsonl", GOOD_AND_BAD), "format": "auto", "status": "unlabeled"}
            )
        job = ImportJob.objects.get()
        assert response.status_code == 302 and (job.initial_status, job.created, job.failed) == (
            "unlabeled",
            0,
            2,
        )
        page = lead.get(f"/imports/{job.pk}/").content.decode()
        assert "inputs for the labeling queue" in page and "row 1 has an output" in page
        with django_capture_on_commit_callbacks(execute=True):  # type: ignore[operator]
            lead.post(
                url,
                {
                    "file": upload("inputs.jsonl", b'{"text": "Where is my card?"}\n'),
                    "format": "auto",
                    "status": "unlabeled",
                },
            )
        assert list(LabelingItem.objects.values_list("input", flat=True)) == ["Where is my card?"]
        assert not Example.objects.exists()
        refused = logged_in(team.reviewer).post(
            url, {"file": upload("rows.jsonl", GOOD_AND_BAD), "format": "auto", "status": "unlabeled"}
        )
        assert refused.status_code == 200 and ImportJob.objects.count() == 2  # not a choice for them

    def test_a_file_over_the_limit_is_refused_with_a_message(self, team: Team, settings: object) -> None:
        settings.FINCH_MAX_UPLOAD_BYTES = 50  # type: ignore[attr-defined]
        response = logged_in(team.annotator).post(
            f"/projects/{team.project.pk}/import/",
            {"file": upload("big.jsonl", GOOD_AND_BAD), "status": "draft"},
        )
        assert response.status_code == 413
        assert "the limit is 50 bytes" in response.content.decode()
        assert not ImportJob.objects.exists()

    def test_another_projects_import_is_not_found(self, team: Team) -> None:
        job = ImportJob.objects.create(project=team.project, filename="x.jsonl", file="imports/x.jsonl")
        assert logged_in(team.outsider).get(f"/imports/{job.pk}/").status_code == 404

    def test_dashboard_links_import_and_exports(self, team: Team) -> None:
        page = logged_in(team.annotator).get(f"/projects/{team.project.pk}/").content.decode()
        assert f"/projects/{team.project.pk}/import/" in page
        assert f'action="/projects/{team.project.pk}/exports/"' in page  # export jobs (issue 20)
