"""Behaviour of the dedup API: starting jobs, reading them and their clusters, keep and dissolve,
and what the marks do to the examples API."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from curation.models import DedupJob, Example, ExampleStatus
from curation.services.flags import flag_create
from tests.api.support import error_fields
from tests.conftest import Team
from tests.factories import ExampleFactory, MembershipFactory, ProjectFactory, many_examples

if TYPE_CHECKING:
    from rest_framework.response import _MonkeyPatchedResponse as Response

pytestmark = pytest.mark.django_db

ClientFor = Callable[[User | None], APIClient]
CaptureOnCommit = Callable[..., AbstractContextManager[list[Callable[[], Any]]]]

JOB_CONTRACT = {"status", "progress", "error", "clusters", "duplicates_marked"}
JOB_PARAMETERS = {"method", "fields", "threshold", "num_perm", "ngram", "examples_checked"}


def error_codes(response: Response) -> list[str]:
    error_fields(response)
    return [error["code"] for error in response.json()["errors"]]


def jobs_url(team: Team) -> str:
    return f"/api/projects/{team.project.pk}/dedup-jobs/"


def job_url(job_id: int) -> str:
    return f"/api/dedup-jobs/{job_id}/"


def clusters_url(job_id: int) -> str:
    return f"/api/dedup-jobs/{job_id}/clusters/"


def keep_url(cluster_id: int) -> str:
    return f"/api/clusters/{cluster_id}/keep/"


def dissolve_url(cluster_id: int) -> str:
    return f"/api/clusters/{cluster_id}/dissolve/"


def example(team: Team, text: str, output: str = "card_arrival", **fields: Any) -> Example:
    return ExampleFactory.create(project=team.project, input=text, output=output, **fields)


def listed(client: APIClient, team: Team, **query: str) -> set[int]:
    response = client.get(f"/api/projects/{team.project.pk}/examples/", {"page_size": "1000", **query})
    assert response.status_code == 200, response.content
    assert response.json()["next"] is None
    return {item["id"] for item in response.json()["results"]}


def marks(client: APIClient, examples: list[Example]) -> list[int | None]:
    """duplicate_of of each example, as the example endpoint shows it."""
    return [client.get(f"/api/examples/{item.pk}/").json()["duplicate_of"] for item in examples]


@pytest.fixture
def start(
    team: Team, client_for: ClientFor, django_capture_on_commit_callbacks: CaptureOnCommit
) -> Callable[..., dict[str, Any]]:
    """Start a job as the lead, let its task run (eager Celery, on commit), return its final state."""

    def run(**body: Any) -> dict[str, Any]:
        lead = client_for(team.lead)
        with django_capture_on_commit_callbacks(execute=True):
            response = lead.post(jobs_url(team), body, format="json")
        assert response.status_code == 202, response.content
        job = lead.get(job_url(response.json()["id"]))
        assert job.status_code == 200, job.content
        data: dict[str, Any] = job.json()
        assert data["status"] == "succeeded", data
        return data

    return run


@pytest.fixture
def trio(team: Team) -> list[Example]:
    """Three exact duplicates (up to case and punctuation), the approved one in the middle, and
    an unrelated example."""
    return [
        example(team, "My card was declined"),
        example(team, "my card was declined!", status=ExampleStatus.APPROVED),
        example(team, "MY CARD WAS DECLINED."),
        example(team, "How do I change my PIN?"),
    ]


def only_cluster(client: APIClient, job: dict[str, Any]) -> dict[str, Any]:
    response = client.get(clusters_url(job["id"]))
    assert response.status_code == 200, response.content
    (cluster,) = response.json()["results"]
    result: dict[str, Any] = cluster
    return result


class TestStartRefusals:
    @pytest.mark.parametrize(
        ("body", "field"),
        [
            pytest.param({"method": "fuzzy"}, "method", id="unknown method"),
            pytest.param({}, "method", id="no method"),
            pytest.param({"method": "exact", "fields": "output"}, "fields", id="unknown fields"),
            pytest.param({"method": "minhash", "threshold": 0}, "threshold", id="threshold 0"),
            pytest.param({"method": "minhash", "threshold": 1.5}, "threshold", id="threshold 1.5"),
            pytest.param({"method": "minhash", "threshold": -0.2}, "threshold", id="threshold negative"),
            pytest.param({"method": "minhash", "threshold": "high"}, "threshold", id="threshold a string"),
            pytest.param({"method": "minhash", "threshold": "nan"}, "threshold", id="threshold nan"),
            pytest.param({"method": "minhash", "num_perm": 8}, "num_perm", id="num_perm 8"),
            pytest.param({"method": "minhash", "num_perm": 5000}, "num_perm", id="num_perm 5000"),
            pytest.param({"method": "minhash", "num_perm": "many"}, "num_perm", id="num_perm a string"),
            pytest.param({"method": "minhash", "ngram": -1}, "ngram", id="ngram -1"),
            pytest.param({"method": "minhash", "ngram": 33}, "ngram", id="ngram 33"),
            pytest.param({"method": "exact", "colour": "red"}, "colour", id="unknown field"),
        ],
    )
    def test_a_bad_parameter_is_400_naming_it_and_no_job_is_made(
        self, team: Team, client_for: ClientFor, body: dict[str, Any], field: str
    ) -> None:
        # Given a lead
        lead = client_for(team.lead)

        # When they start a dedup job with one bad parameter
        response = lead.post(jobs_url(team), body, format="json")

        # Then it is refused, naming that parameter, and nothing is queued
        assert response.status_code == 400, response.content
        assert error_fields(response) == [field]
        assert field in response.json()["errors"][0]["message"]
        assert not DedupJob.objects.exists()

    def test_embedding_finds_paraphrases_that_minhash_misses(
        self, team: Team, client_for: ClientFor, django_capture_on_commit_callbacks: Any
    ) -> None:
        # Given two phrasings of one question and an unrelated one
        ExampleFactory.create(project=team.project, input="How can I get a refund for my purchase?")
        paraphrase = ExampleFactory.create(
            project=team.project, input="How do I get my money back for something I bought?"
        )
        ExampleFactory.create(project=team.project, input="Which currencies can I hold in my account?")

        # When a lead runs an embedding job with a cosine threshold
        with django_capture_on_commit_callbacks(execute=True):
            response = client_for(team.lead).post(
                jobs_url(team), {"method": "embedding", "threshold": 0.7}, format="json"
            )

        # Then the paraphrase is marked and the unrelated question is not
        assert response.status_code == 202, response.content
        job = DedupJob.objects.get()
        assert (job.status, job.clusters, job.duplicates_marked) == ("succeeded", 1, 1), job.error
        paraphrase.refresh_from_db()
        assert paraphrase.duplicate_of_id is not None

    def test_a_malformed_body_is_400(self, team: Team, client_for: ClientFor) -> None:
        response = client_for(team.lead).post(
            jobs_url(team), data="{not json", content_type="application/json"
        )

        assert response.status_code == 400, response.content
        error_fields(response)


class TestJob:
    def test_the_202_and_the_finished_job_have_the_contract_fields(
        self,
        team: Team,
        client_for: ClientFor,
        trio: list[Example],
        django_capture_on_commit_callbacks: CaptureOnCommit,
    ) -> None:
        # Given a lead and a project with one cluster of three duplicates
        lead = client_for(team.lead)

        # When the lead starts an exact job
        with django_capture_on_commit_callbacks(execute=True):
            response = lead.post(jobs_url(team), {"method": "exact"}, format="json")

        # Then the 202 shows the queued job with its parameters and defaults
        assert response.status_code == 202, response.content
        queued = response.json()
        assert set(queued) >= JOB_CONTRACT | JOB_PARAMETERS
        assert queued["status"] == "queued"
        assert (queued["method"], queued["fields"], queued["threshold"]) == ("exact", "input", 1.0)
        assert (queued["num_perm"], queued["ngram"]) == (128, 0)
        assert (queued["clusters"], queued["duplicates_marked"], queued["examples_checked"]) == (0, 0, 0)
        # And once run, the job reports what it found
        job = lead.get(job_url(queued["id"])).json()
        assert set(job) >= JOB_CONTRACT | JOB_PARAMETERS
        assert (job["status"], job["progress"], job["error"]) == ("succeeded", 1.0, "")
        assert (job["examples_checked"], job["clusters"], job["duplicates_marked"]) == (4, 1, 2)
        assert job["created_by"] == team.lead.username

    def test_minhash_parameters_are_kept_as_given(
        self, team: Team, start: Callable[..., dict[str, Any]]
    ) -> None:
        # Given two near-identical questions
        base = "I ordered a new card two weeks ago and it still has not arrived, what should I do?"
        example(team, base)
        example(team, base.replace("two weeks", "2 weeks"))

        # When a minhash job runs with every parameter given
        job = start(method="minhash", threshold=0.7, fields="input", num_perm=64, ngram=4)

        # Then the job shows them, and found the pair
        assert (job["method"], job["threshold"], job["fields"]) == ("minhash", 0.7, "input")
        assert (job["num_perm"], job["ngram"]) == (64, 4)
        assert (job["clusters"], job["duplicates_marked"]) == (1, 1)

    def test_minhash_default_threshold_is_0_8(self, team: Team, start: Callable[..., dict[str, Any]]) -> None:
        job = start(method="minhash", threshold=None)

        assert job["threshold"] == 0.8

    def test_examples_of_another_project_are_never_in_a_cluster(
        self, team: Team, start: Callable[..., dict[str, Any]]
    ) -> None:
        # Given the same text in this project once and in another project once
        mine = example(team, "Where is my refund?")
        ExampleFactory.create(project=ProjectFactory.create(), input="Where is my refund?")

        # When the job runs here
        job = start(method="exact")

        # Then nothing is a duplicate
        assert (job["examples_checked"], job["clusters"], job["duplicates_marked"]) == (1, 0, 0)
        mine.refresh_from_db()
        assert mine.duplicate_of_id is None


class TestClusters:
    def test_clusters_have_the_contract_shape(
        self, team: Team, client_for: ClientFor, trio: list[Example], start: Callable[..., dict[str, Any]]
    ) -> None:
        # Given a job that found the trio
        job = start(method="exact")
        first, approved, third, _ = trio

        # When an annotator reads its clusters
        response = client_for(team.annotator).get(clusters_url(job["id"]))

        # Then there is one page with one active cluster keeping the approved example,
        # listing every member with its similarity
        assert response.status_code == 200, response.content
        page = response.json()
        assert {"results", "next"} <= set(page)
        assert page["next"] is None
        (cluster,) = page["results"]
        assert {"id", "kept", "members", "status", "job"} <= set(cluster)
        assert (cluster["kept"], cluster["status"], cluster["job"]) == (approved.pk, "active", job["id"])
        members = {member["example"]: member["similarity"] for member in cluster["members"]}
        assert members == {first.pk: 1.0, approved.pk: 1.0, third.pk: 1.0}
        for member in cluster["members"]:
            assert set(member) == {"example", "similarity", "reason"}

    def test_clusters_are_paginated(
        self, team: Team, client_for: ClientFor, start: Callable[..., dict[str, Any]]
    ) -> None:
        # Given three separate pairs of duplicates, found by one job
        for text in ("Lost card", "Card declined", "Refund please"):
            example(team, text)
            example(team, text.upper())
        job = start(method="exact")
        client = client_for(team.annotator)

        # When the clusters are read two at a time, following `next`
        first = client.get(clusters_url(job["id"]), {"page_size": 2}).json()
        assert first["next"]
        second = client.get(first["next"]).json()

        # Then every cluster is listed exactly once
        assert len(first["results"]) == 2
        assert second["next"] is None
        ids = [cluster["id"] for cluster in first["results"] + second["results"]]
        assert len(ids) == len(set(ids)) == job["clusters"] == 3


class TestKeep:
    def test_keep_moves_every_mark_and_the_example_endpoint_shows_it(
        self, team: Team, client_for: ClientFor, trio: list[Example], start: Callable[..., dict[str, Any]]
    ) -> None:
        # Given a cluster keeping the approved example
        reviewer = client_for(team.reviewer)
        cluster = only_cluster(reviewer, start(method="exact"))
        _, approved, third, _ = trio
        assert marks(reviewer, trio) == [approved.pk, None, approved.pk, None]

        # When a reviewer keeps the third one instead
        response = reviewer.post(keep_url(cluster["id"]), {"example": third.pk}, format="json")

        # Then the cluster keeps it, and every other member points to it
        assert response.status_code == 200, response.content
        data = response.json()
        assert (data["id"], data["kept"], data["status"]) == (cluster["id"], third.pk, "active")
        assert data["changed_by"] == team.reviewer.username
        assert marks(reviewer, trio) == [third.pk, third.pk, None, None]
        assert only_cluster(reviewer, {"id": cluster["job"]})["kept"] == third.pk

    def test_keeping_a_non_member_is_400_and_changes_nothing(
        self, team: Team, client_for: ClientFor, trio: list[Example], start: Callable[..., dict[str, Any]]
    ) -> None:
        # Given a cluster, an example outside it and one in another project
        reviewer = client_for(team.reviewer)
        cluster = only_cluster(reviewer, start(method="exact"))
        outside = trio[3]
        elsewhere = ExampleFactory.create(project=ProjectFactory.create())

        for stranger in (outside.pk, elsewhere.pk, 2_000_000_000):
            # When a reviewer tries to keep it
            response = reviewer.post(keep_url(cluster["id"]), {"example": stranger}, format="json")

            # Then it is refused naming the example, and the marks stay
            assert response.status_code == 400, response.content
            assert error_fields(response) == ["example"]
            assert marks(reviewer, trio) == [trio[1].pk, None, trio[1].pk, None]

    @pytest.mark.parametrize(
        ("body", "field"),
        [({}, "example"), ({"example": "first"}, "example"), ({"example": 1, "why": "x"}, "why")],
    )
    def test_a_bad_keep_body_is_400_naming_the_field(
        self,
        team: Team,
        client_for: ClientFor,
        trio: list[Example],
        start: Callable[..., dict[str, Any]],
        body: dict[str, Any],
        field: str,
    ) -> None:
        reviewer = client_for(team.reviewer)
        cluster = only_cluster(reviewer, start(method="exact"))

        response = reviewer.post(keep_url(cluster["id"]), body, format="json")

        assert response.status_code == 400, response.content
        assert error_fields(response) == [field]

    def test_keep_on_a_dissolved_cluster_is_409(
        self, team: Team, client_for: ClientFor, trio: list[Example], start: Callable[..., dict[str, Any]]
    ) -> None:
        # Given a dissolved cluster
        reviewer = client_for(team.reviewer)
        cluster = only_cluster(reviewer, start(method="exact"))
        assert reviewer.post(dissolve_url(cluster["id"])).status_code == 200

        # When a reviewer keeps one of its former members
        response = reviewer.post(keep_url(cluster["id"]), {"example": trio[0].pk}, format="json")

        # Then it is a conflict, and nobody is marked again
        assert response.status_code == 409, response.content
        assert error_codes(response) == ["conflict"]
        assert marks(reviewer, trio) == [None, None, None, None]


class TestDissolve:
    def test_dissolve_unmarks_and_a_second_dissolve_is_409(
        self, team: Team, client_for: ClientFor, trio: list[Example], start: Callable[..., dict[str, Any]]
    ) -> None:
        # Given a cluster
        reviewer = client_for(team.reviewer)
        cluster = only_cluster(reviewer, start(method="exact"))

        # When a reviewer dissolves it, twice
        first = reviewer.post(dissolve_url(cluster["id"]))
        second = reviewer.post(dissolve_url(cluster["id"]))

        # Then the first unmarks every member, the second is a conflict
        assert first.status_code == 200, first.content
        assert (first.json()["status"], first.json()["changed_by"]) == ("dissolved", team.reviewer.username)
        assert marks(reviewer, trio) == [None, None, None, None]
        assert second.status_code == 409, second.content
        assert error_codes(second) == ["conflict"]

    def test_a_new_job_does_not_recreate_a_dissolved_cluster(
        self, team: Team, client_for: ClientFor, trio: list[Example], start: Callable[..., dict[str, Any]]
    ) -> None:
        reviewer = client_for(team.reviewer)
        cluster = only_cluster(reviewer, start(method="exact"))
        reviewer.post(dissolve_url(cluster["id"]))

        again = start(method="exact")

        assert (again["clusters"], again["duplicates_marked"]) == (0, 0)
        assert reviewer.get(clusters_url(again["id"])).json()["results"] == []
        assert marks(reviewer, trio) == [None, None, None, None]


class TestExampleFilters:
    @pytest.fixture
    def flagged(self, team: Team, trio: list[Example]) -> list[Example]:
        """The first duplicate and the unrelated example carry an open flag."""
        for item in (trio[0], trio[3]):
            flag_create(project=team.project, user=team.lead, kind="quality", example_ids=[item.pk])
        return [trio[0], trio[3]]

    def test_duplicate_filter_follows_the_marks_and_flagged_filter_is_unaffected(
        self,
        team: Team,
        client_for: ClientFor,
        trio: list[Example],
        flagged: list[Example],
        start: Callable[..., dict[str, Any]],
    ) -> None:
        first, approved, third, other = trio
        client = client_for(team.annotator)
        everyone = {item.pk for item in trio}
        flags_before = (listed(client, team, flagged="true"), listed(client, team, flagged="false"))
        assert flags_before == ({first.pk, other.pk}, {approved.pk, third.pk})
        assert listed(client, team, duplicate="true") == set()

        # When the job marks the duplicates
        job = start(method="exact")

        # Then the duplicate filter lists the marked ones, and flagged still lists the flagged ones
        assert listed(client, team, duplicate="true") == {first.pk, third.pk}
        assert listed(client, team, duplicate="false") == {approved.pk, other.pk}
        assert (listed(client, team, flagged="true"), listed(client, team, flagged="false")) == flags_before
        assert listed(client, team, duplicate="true", flagged="true") == {first.pk}
        assert listed(client, team) == everyone

        # When a reviewer keeps the third instead
        reviewer = client_for(team.reviewer)
        cluster = only_cluster(reviewer, job)
        assert reviewer.post(keep_url(cluster["id"]), {"example": third.pk}, format="json").status_code == 200

        # Then the filter follows
        assert listed(client, team, duplicate="true") == {first.pk, approved.pk}
        assert listed(client, team, duplicate="false") == {third.pk, other.pk}
        assert (listed(client, team, flagged="true"), listed(client, team, flagged="false")) == flags_before

        # When the cluster is dissolved
        assert reviewer.post(dissolve_url(cluster["id"])).status_code == 200

        # Then no example is a duplicate, and the flags are still as they were
        assert listed(client, team, duplicate="true") == set()
        assert listed(client, team, duplicate="false") == everyone
        assert (listed(client, team, flagged="true"), listed(client, team, flagged="false")) == flags_before

    def test_marked_duplicates_stay_in_the_project(
        self, team: Team, client_for: ClientFor, trio: list[Example], start: Callable[..., dict[str, Any]]
    ) -> None:
        start(method="exact")

        assert Example.objects.filter(project=team.project).count() == 4
        assert listed(client_for(team.annotator), team) == {item.pk for item in trio}


def test_a_member_of_another_project_cannot_see_the_clusters(
    team: Team, client_for: ClientFor, trio: list[Example], start: Callable[..., dict[str, Any]]
) -> None:
    # Given a job in the team's project and a lead of another project
    job = start(method="exact")
    stranger = MembershipFactory.create(project=ProjectFactory.create(), role="lead").user
    client = client_for(stranger)

    # Then neither the job, its clusters, nor keep and dissolve are reachable
    cluster = only_cluster(client_for(team.lead), job)
    assert client.get(job_url(job["id"])).status_code == 404
    assert client.get(clusters_url(job["id"])).status_code == 404
    assert client.post(keep_url(cluster["id"]), {"example": trio[0].pk}, format="json").status_code == 404
    assert client.post(dissolve_url(cluster["id"])).status_code == 404


def test_a_projects_jobs_are_listed_newest_first_and_only_its_own(team: Team, client_for: ClientFor) -> None:
    # Given two dedup jobs, a contradiction job and a validation job in the project, and a
    # dedup job in another project
    from curation.models import ContradictionJob, DedupJob, ValidationJob
    from tests.factories import ProjectFactory

    first = DedupJob.objects.create(project=team.project, method="exact")
    second = DedupJob.objects.create(project=team.project, method="minhash", threshold=0.8)
    DedupJob.objects.create(project=ProjectFactory.create(), method="exact")
    contradiction = ContradictionJob.objects.create(project=team.project)
    validation = ValidationJob.objects.create(project=team.project)
    client = client_for(team.annotator)

    def ids(kind: str) -> list[int]:
        response = client.get(f"/api/projects/{team.project.pk}/{kind}/")
        assert response.status_code == 200, response.content
        return [job["id"] for job in response.json()["results"]]

    # Then each list holds the project's jobs of that kind, newest first, in their usual fields
    assert ids("dedup-jobs") == [second.pk, first.pk]
    assert ids("contradiction-jobs") == [contradiction.pk]
    assert ids("validation-jobs") == [validation.pk]
    listed = client.get(f"/api/projects/{team.project.pk}/dedup-jobs/").json()["results"][0]
    assert listed == client.get(f"/api/dedup-jobs/{second.pk}/").json()


@pytest.mark.parametrize(("clusters", "size"), [(1, 1_200), (600, 2)])
def test_a_page_of_a_thousand_members_or_more_is_read(
    team: Team, client_for: ClientFor, clusters: int, size: int
) -> None:
    # Given a job whose clusters hold 1,200 members together (SQLite failed on such a page:
    # "Expression tree is too large", answered 503 as if the database were busy)
    from curation.models import ClusterMember, DuplicateCluster

    job = DedupJob.objects.create(
        project=team.project, created_by=team.lead, method="minhash", status="succeeded"
    )
    ids = many_examples(
        team.project, [(f"message number {row}", "card_arrival") for row in range(clusters * size)]
    )
    made = DuplicateCluster.objects.bulk_create(
        DuplicateCluster(project=team.project, job=job, kept_id=ids[at * size]) for at in range(clusters)
    )
    ClusterMember.objects.bulk_create(
        ClusterMember(cluster=cluster, example_id=pk, similarity=0.9, job=job)
        for at, cluster in enumerate(made)
        for pk in ids[at * size : (at + 1) * size]
    )

    # When a page of all of them is read
    response = client_for(team.lead).get(clusters_url(job.pk), {"page_size": 1000})

    # Then every cluster on it comes with all its members
    assert response.status_code == 200, response.content[:300]
    results = response.json()["results"]
    assert len(results) == min(clusters, 1000)
    assert sum(len(cluster["members"]) for cluster in results) == clusters * size
