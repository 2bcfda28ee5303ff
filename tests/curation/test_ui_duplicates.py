"""The Duplicates page: leads start jobs, reviewers keep or dissolve, annotators only look."""

import re
from typing import Any

import pytest
from django.test import Client

from curation.models import ClusterMember, ClusterStatus, DedupJob, DuplicateCluster, Example
from curation.services.flags import flag_create
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

    def test_a_job_that_flagged_two_labels_links_its_count_to_the_flags_page(
        self, team: Team, django_capture_on_commit_callbacks: Any
    ) -> None:
        ExampleFactory.create(project=team.project, input="Top up failed", output="top_up_failed")
        ExampleFactory.create(project=team.project, input="top up failed.", output="declined_transfer")
        with django_capture_on_commit_callbacks(execute=True):
            logged_in(team.lead).post(
                f"/projects/{team.project.pk}/duplicates/", {"method": "exact", "compare": "input"}
            )

        page = logged_in(team.reviewer).get(f"/projects/{team.project.pk}/duplicates/").content.decode()

        assert "examples alike under different labels are never duplicates of each other" in page
        job = DedupJob.objects.get()
        link = f"/projects/{team.project.pk}/flags/?status=open&amp;job=dedup-job:{job.pk}"
        assert re.search(
            re.escape(f'<a href="{link}" title="Inputs alike under different labels') + r"[^>]*>1</a>", page
        )

        # And the link shows the flags that job raised, and no other
        other = ExampleFactory.create(project=team.project, input="Card stuck")
        flag_create(
            project=team.project,
            user=team.reviewer,
            kind="quality",
            example_ids=[other.pk],
            note="raised by a person",
        )
        flags = logged_in(team.reviewer).get(link.replace("&amp;", "&")).content.decode()
        assert f"Raised by dedup-job:{job.pk}" in flags
        assert (
            "Inputs alike, outputs differ: &#x27;top_up_failed&#x27;" in flags
            and "raised by a person" not in flags
        )

    def test_the_form_keeps_the_last_method_but_not_its_threshold(self, team: Team) -> None:
        # Given an exact job, which records threshold 1.0 and the shingles it resolved
        DedupJob.objects.create(
            project=team.project, created_by=team.lead, method="exact", threshold=1.0, shingle="char"
        )

        page = logged_in(team.lead).get(f"/projects/{team.project.pk}/duplicates/").content.decode()

        # Then the next job starts from its method, but a MinHash job would get its own default
        assert re.search(r'<option value="exact" selected>', page)
        threshold = re.search(r'<input type="number" name="threshold"[^>]*>', page)
        assert threshold is not None and "value=" not in threshold.group(0)
        assert re.search(r'<option value="auto" selected>', page)

    @pytest.mark.parametrize(
        ("threshold", "message"),
        [
            ("2", "Threshold: Ensure this value is less than or equal to 1.0."),
            ("abc", "Threshold: Enter a number."),
        ],
    )
    def test_a_bad_threshold_is_named_and_starts_nothing(
        self, team: Team, threshold: str, message: str
    ) -> None:
        response = logged_in(team.lead).post(
            f"/projects/{team.project.pk}/duplicates/",
            {"method": "minhash", "compare": "input", "threshold": threshold},
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

    def test_a_decision_from_a_page_another_reviewer_outdated_is_refused(self, team: Team) -> None:
        # Given the page open for two reviewers, and the lead keeping another member meanwhile
        cluster = clustered(team)
        url = f"/projects/{team.project.pk}/duplicates/"
        seen = re.search(r'name="seen" value="([^"]+)"', logged_in(team.reviewer).get(url).content.decode())
        assert seen is not None
        other = cluster.members.exclude(example_id=cluster.kept_id).first()
        assert other is not None
        lead = logged_in(team.lead)
        assert (
            lead.post(f"/clusters/{cluster.pk}/", {"keep": other.example_id, "seen": seen[1]}).status_code
            == 302
        )
        # When the reviewer dissolves it from the page as it was
        response = logged_in(team.reviewer).post(
            f"/clusters/{cluster.pk}/", {"dissolve": "1", "seen": seen[1]}, follow=True
        )
        # Then nothing changes, and the page says why
        page = response.content.decode()
        assert f"Cluster {cluster.pk} changed since this page showed it (by {team.lead.username})" in page
        assert f"it now keeps example {other.example_id} of 3" in page
        cluster.refresh_from_db()
        assert (cluster.status, cluster.kept_id) == (ClusterStatus.ACTIVE, other.example_id)

    def test_an_annotator_sees_clusters_without_buttons_and_may_not_decide(self, team: Team) -> None:
        cluster = clustered(team)
        page = logged_in(team.annotator).get(f"/projects/{team.project.pk}/duplicates/").content.decode()
        assert "card stuck in atm!" in page and "Keep this one" not in page and "dissolve" not in page
        assert (
            logged_in(team.annotator).post(f"/clusters/{cluster.pk}/", {"dissolve": "1"}).status_code == 403
        )


def clusters_of_two(team: Team, count: int, *, status: str = ClusterStatus.ACTIVE) -> list[DuplicateCluster]:
    """`count` clusters, oldest first, each a kept example and one duplicate."""
    job = DedupJob.objects.create(project=team.project, created_by=team.lead, method="exact", threshold=1.0)
    made = []
    for n in range(count):
        kept, other = (
            ExampleFactory.create(project=team.project, input=f"Question {job.pk}.{n} {side}")
            for side in "ab"
        )
        cluster = DuplicateCluster.objects.create(project=team.project, job=job, kept=kept, status=status)
        for member in (kept, other):
            ClusterMember.objects.create(cluster=cluster, example=member, similarity=1.0)
        made.append(cluster)
    return made


def shown_ids(page: str) -> list[int]:
    return [int(pk) for pk in re.findall(r'id="cluster-(\d+)"', page)]


@pytest.mark.django_db
class TestClusterPaging:
    @pytest.fixture(autouse=True)
    def two_a_page(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr("curation.views.dedup.CLUSTERS_SHOWN", 2)

    def test_the_count_is_shown_and_older_pages_reach_every_active_cluster(self, team: Team) -> None:
        # Given five active clusters and a dissolved one, two shown a page
        active = clusters_of_two(team, 5)
        clusters_of_two(team, 1, status=ClusterStatus.DISSOLVED)
        client = logged_in(team.annotator)
        # When the reviewer follows "Older clusters" from the first page to the last
        url: str | None = f"/projects/{team.project.pk}/duplicates/"
        pages = []
        while url is not None:
            page = client.get(url).content.decode()
            pages.append(shown_ids(page))
            older = re.search(r'href="(\?before=\d+)"[^>]*>Older clusters', page)
            url = f"/projects/{team.project.pk}/duplicates/{older.group(1)}" if older else None
        # Then each page says how many there are, and together they show each active one once
        assert "5 active clusters" in page
        assert pages == [[active[4].pk, active[3].pk], [active[2].pk, active[1].pk], [active[0].pk]]

    def test_a_cluster_link_opens_the_page_that_holds_it(self, team: Team) -> None:
        active = clusters_of_two(team, 5)
        page = (
            logged_in(team.annotator)
            .get(f"/projects/{team.project.pk}/duplicates/?cluster={active[1].pk}")
            .content.decode()
        )
        assert shown_ids(page) == [active[1].pk, active[0].pk]
        assert f'href="/projects/{team.project.pk}/duplicates/"' in page and "Newest clusters" in page
        assert "5 active clusters" in page and "no longer active" not in page

    def test_a_link_to_a_dissolved_cluster_says_so(self, team: Team) -> None:
        older, newer = clusters_of_two(team, 2)
        gone = clusters_of_two(team, 1, status=ClusterStatus.DISSOLVED)[0]
        page = (
            logged_in(team.annotator)
            .get(f"/projects/{team.project.pk}/duplicates/?cluster={gone.pk}")
            .content.decode()
        )
        assert f"Cluster {gone.pk} is no longer active" in page
        assert shown_ids(page) == [newer.pk, older.pk]  # the ones older than it

    def test_a_bad_cluster_or_page_is_named(self, team: Team) -> None:
        client = logged_in(team.annotator)
        for query in ("?cluster=abc", "?before=abc"):
            assert client.get(f"/projects/{team.project.pk}/duplicates/{query}").status_code == 400

    def test_a_decision_on_an_older_page_returns_to_it(self, team: Team) -> None:
        active = clusters_of_two(team, 5)
        cluster = active[1]
        duplicate = cluster.members.exclude(example_id=cluster.kept_id).get()
        response = logged_in(team.reviewer).post(
            f"/clusters/{cluster.pk}/", {"keep": duplicate.example_id, "before": active[2].pk}
        )
        assert response["Location"] == (
            f"/projects/{team.project.pk}/duplicates/?before={active[2].pk}#cluster-{cluster.pk}"
        )

    def test_the_page_reads_the_same_number_of_queries_however_many_clusters(
        self, team: Team, django_assert_max_num_queries: Any
    ) -> None:
        clusters_of_two(team, 5)
        client = logged_in(team.annotator)
        with django_assert_max_num_queries(11):  # the same 11 for 2 clusters or 50: no query per cluster
            assert client.get(f"/projects/{team.project.pk}/duplicates/").status_code == 200
