"""The Duplicates page: leads start jobs, reviewers keep or dissolve, annotators only look."""

from typing import Any

import pytest
from django.test import Client

from curation.models import ClusterStatus, DedupJob, DuplicateCluster, Example
from curation.tasks import dedup_examples
from tests.conftest import Team
from tests.factories import ExampleFactory


def logged_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def clustered(team: Team) -> DuplicateCluster:
    for text in ("Card stuck in ATM", "card stuck in atm!", "CARD STUCK IN ATM"):
        ExampleFactory.create(project=team.project, input=text)
    job = DedupJob.objects.create(project=team.project, created_by=team.lead, method="exact", threshold=1.0)
    dedup_examples(job.pk)
    return DuplicateCluster.objects.get()


@pytest.mark.django_db
class TestDuplicatesPage:
    def test_a_lead_starts_a_job_from_the_page(
        self, team: Team, django_capture_on_commit_callbacks: Any
    ) -> None:
        ExampleFactory.create(project=team.project, input="Top up failed")
        ExampleFactory.create(project=team.project, input="top up failed.")
        with django_capture_on_commit_callbacks(execute=True):
            response = logged_in(team.lead).post(
                f"/projects/{team.project.pk}/duplicates/", {"method": "exact", "compare": "input"}
            )
        assert response.status_code == 302
        job = DedupJob.objects.get()
        assert (job.status, job.clusters, job.duplicates_marked) == ("succeeded", 1, 1)

    @pytest.mark.parametrize(
        ("threshold", "message"),
        [("2", "Threshold: Ensure this value is less than or equal to 1.0."), ("abc", "Threshold: Enter a number.")],
    )
    def test_a_bad_threshold_is_named_and_starts_nothing(self, team: Team, threshold: str, message: str) -> None:
        response = logged_in(team.lead).post(
            f"/projects/{team.project.pk}/duplicates/", {"method": "minhash", "compare": "input", "threshold": threshold}
        )
        assert response.status_code == 200 and message in response.content.decode()
        assert not DedupJob.objects.exists()

    def test_only_leads_see_the_form_and_may_post_it(self, team: Team) -> None:
        url = f"/projects/{team.project.pk}/duplicates/"
        assert "Find duplicates" not in logged_in(team.reviewer).get(url).content.decode()
        assert logged_in(team.reviewer).post(url, {"method": "exact", "compare": "input"}).status_code == 403
        assert logged_in(team.outsider).get(url).status_code == 404

    def test_a_reviewer_keeps_another_member_then_dissolves(self, team: Team) -> None:
        cluster = clustered(team)
        other = cluster.members.exclude(example_id=cluster.kept_id).first()
        assert other is not None
        reviewer = logged_in(team.reviewer)
        reviewer.post(f"/clusters/{cluster.pk}/", {"keep": other.example_id})
        cluster.refresh_from_db()
        assert cluster.kept_id == other.example_id
        reviewer.post(f"/clusters/{cluster.pk}/", {"dissolve": "1"})
        cluster.refresh_from_db()
        assert cluster.status == ClusterStatus.DISSOLVED
        assert not Example.objects.filter(duplicate_of__isnull=False).exists()

    def test_an_annotator_sees_clusters_without_buttons_and_may_not_decide(self, team: Team) -> None:
        cluster = clustered(team)
        page = logged_in(team.annotator).get(f"/projects/{team.project.pk}/duplicates/").content.decode()
        assert "card stuck in atm!" in page and "Keep this one" not in page and "dissolve" not in page
        assert (
            logged_in(team.annotator).post(f"/clusters/{cluster.pk}/", {"dissolve": "1"}).status_code == 403
        )
