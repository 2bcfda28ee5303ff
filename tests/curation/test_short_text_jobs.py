"""Issue 26 end to end: the default MinHash and contradiction jobs find retyped short texts, the
project's settings shape what counts, and every member says why it was grouped."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from curation.cluster_reasons import member_reasons
from curation.models import (
    ContradictionJob,
    DedupJob,
    DedupMethod,
    DuplicateCluster,
    Example,
    Flag,
    JobStatus,
    TaskType,
)
from curation.services.contradictions import contradictions_run
from curation.services.dedup import DEFAULT_THRESHOLDS, word_folding
from curation.services.jobs import job_run
from curation.services.projects import project_create, project_update
from curation.tasks import dedup_examples
from tests.conftest import Team
from tests.factories import ExampleFactory

ORIGINAL = "Is payment required to get a card of my own?"
UNRELATED = ["What is the exchange rate for euros today?", "My card was stolen, please block it."]


def minhash(team: Team) -> DedupJob:
    job = DedupJob.objects.create(
        project=team.project,
        created_by=team.lead,
        method="minhash",
        threshold=DEFAULT_THRESHOLDS[DedupMethod.MINHASH],
    )
    dedup_examples(job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED, job.error
    return job


def add(team: Team, text: str, output: str = "card_arrival") -> Example:
    return ExampleFactory.create(project=team.project, input=text, output=output)


@pytest.mark.django_db
class TestMinHashAtItsDefault:
    @pytest.mark.parametrize(
        "copy",
        [
            "Is payment required to get a crad of my own?",  # transposed letters
            "hi, is payment required to get a card of my own",  # a filler and no punctuation
            "IS PAYMENT REQUIRED TO GET A CARD OF MY OWN? THANKS",  # case and a filler at the end
            "Is payment required to get a crad of my own? asap",  # two edits at once
        ],
    )
    def test_a_retyped_copy_joins_its_original(self, team: Team, copy: str) -> None:
        original, duplicate = add(team, ORIGINAL), add(team, copy)
        for text in UNRELATED:
            add(team, text)

        job = minhash(team)

        assert job.clusters == 1
        duplicate.refresh_from_db()
        assert duplicate.duplicate_of_id == original.pk

    def test_a_changed_amount_is_never_a_copy(self, team: Team) -> None:
        add(team, "Why is there an extra $1 charge on my statement?")
        add(team, "Why is there an extra $10 charge on my statement?")
        assert minhash(team).clusters == 0

    def test_the_member_says_why(self, team: Team, client: Client) -> None:
        add(team, ORIGINAL)
        add(team, "hi, is payment required to get a crad of my own")
        minhash(team)
        cluster = DuplicateCluster.objects.get()
        (reason,) = member_reasons(cluster, word_folding(team.project)).values()
        assert reason == (
            "The same words once case, punctuation and spacing are set aside; filler words 'hi' "
            "stripped; 'crad' read as 'card'."
        )
        client.force_login(team.annotator)
        page = client.get(reverse("duplicates", args=[team.project.pk])).content.decode()
        assert "&#x27;crad&#x27; read as &#x27;card&#x27;" in page
        members = client.get(f"/api/dedup-jobs/{cluster.job_id}/clusters/").json()["results"][0]["members"]
        assert {member["reason"] for member in members} == {"", reason}

    def test_without_fillers_a_filler_is_a_word(self, team: Team) -> None:
        project_update(project=team.project, user=team.lead, changes={"filler_words": []})
        add(team, "Can I get a card of my own in the US?")
        add(team, "urgent Can I get a card of my own in the US?")
        job = minhash(team)
        # Now a word only one of them has: the embedding model decides (it finds them alike)
        cluster = DuplicateCluster.objects.get(job=job)
        (reason,) = member_reasons(cluster, word_folding(team.project)).values()
        assert "'urgent' only in one" in reason


@pytest.mark.django_db
class TestMembersAddedByALaterJob:
    def exact_then_minhash(self, team: Team) -> tuple[DuplicateCluster, Example, Example]:
        add(team, ORIGINAL)
        copy = add(team, "is payment required to get a card of my own")
        exact = DedupJob.objects.create(
            project=team.project, created_by=team.lead, method="exact", threshold=1.0
        )
        dedup_examples(exact.pk)
        retyped = add(team, "hi, is payment required to get a crad of my own")
        later = minhash(team)
        cluster = DuplicateCluster.objects.get()
        assert cluster.job == exact and later.clusters == 1  # the later job extended it
        return cluster, copy, retyped

    def test_each_member_is_explained_by_the_job_that_added_it(self, team: Team, client: Client) -> None:
        # Given a cluster an exact job made, that a later MinHash job extended
        cluster, copy, retyped = self.exact_then_minhash(team)
        # When its members' reasons are read
        reasons = member_reasons(cluster, word_folding(team.project))
        # Then the exact job's member reads the exact rule, the newcomer the MinHash one
        assert reasons[copy.pk] == "The same text once case, punctuation and spacing are set aside."
        assert (
            reasons[retyped.pk].startswith("The same words once case")
            and "'crad' read as 'card'" in reasons[retyped.pk]
        )
        client.force_login(team.annotator)
        members = client.get(f"/api/dedup-jobs/{cluster.job_id}/clusters/").json()["results"][0]["members"]
        assert {member["example"]: member["reason"] for member in members if member["reason"]} == reasons

    def test_members_from_before_the_job_was_recorded_are_explained_by_the_clusters_job(
        self, team: Team
    ) -> None:
        cluster, _, _ = self.exact_then_minhash(team)
        cluster.members.update(job=None)  # rows older than ClusterMember.job
        reasons = member_reasons(DuplicateCluster.objects.get(), word_folding(team.project))
        assert set(reasons.values()) == {"The same text once case, punctuation and spacing are set aside."}

    def test_the_page_and_the_api_load_the_members_jobs_with_the_clusters(
        self, team: Team, client: Client, django_assert_max_num_queries: Any
    ) -> None:
        cluster, _, _ = self.exact_then_minhash(team)
        client.force_login(team.annotator)
        for url in (
            reverse("duplicates", args=[team.project.pk]),
            f"/api/dedup-jobs/{cluster.job_id}/clusters/",
        ):
            with django_assert_max_num_queries(30) as captured:
                assert "read as" in client.get(url).content.decode()
            one_by_one = [
                query["sql"]
                for query in captured.captured_queries
                if query["sql"].startswith('SELECT "curation_dedupjob"') and query["sql"].endswith("LIMIT 21")
            ]
            assert one_by_one == []  # no query per member for its job


@pytest.mark.django_db
class TestContradictionsAtTheirDefaults:
    def run(self, team: Team) -> ContradictionJob:
        job = ContradictionJob.objects.create(project=team.project)  # MinHash, 0.9
        job_run(ContradictionJob, job.pk, contradictions_run)
        job.refresh_from_db()
        assert job.status == JobStatus.SUCCEEDED, job.error
        return job

    @pytest.mark.parametrize(
        "copy",
        [
            "Is payment required to get a crad of my own?",
            "please is payment required to get a card of my own",
        ],
    )
    def test_a_retyped_copy_with_another_label_is_flagged(self, team: Team, copy: str) -> None:
        original, conflicting = add(team, ORIGINAL, "card_arrival"), add(team, copy, "exchange_rate")
        assert self.run(team).flags_raised == 1
        assert set(Flag.objects.get().memberships.values_list("example_id", flat=True)) == {
            original.pk,
            conflicting.pk,
        }

    def test_currencies_decide_by_the_projects_setting(self, team: Team) -> None:
        add(team, "Why do I see an extra £1 charge?", "extra_charge_on_statement")
        add(team, "Why do I see an extra €1 charge?", "card_payment_fee_charged")
        project_update(project=team.project, user=team.lead, changes={"currency_folds": False})
        assert self.run(team).flags_raised == 0
        project_update(project=team.project, user=team.lead, changes={"currency_folds": True})
        assert self.run(team).flags_raised == 1


@pytest.mark.django_db
class TestSettings:
    def test_defaults_by_task_type(self, team: Team) -> None:
        assert team.project.currency_folds
        assert "thanks" in team.project.filler_words
        extraction = project_create(
            user=team.lead, name="Orders", task_type=TaskType.EXTRACTION, target_behavior="Extract.",
            output_schema={"type": "object"},
        )  # fmt: skip
        assert not extraction.currency_folds

    def test_the_api_takes_and_folds_a_list(self, team: Team, client: Client) -> None:
        client.force_login(team.lead)
        url = f"/api/projects/{team.project.pk}/"
        response = client.patch(
            url, {"filler_words": ["Hi!", "Thank you", "hi"]}, content_type="application/json"
        )
        assert response.status_code == 200, response.content
        assert response.json()["filler_words"] == ["hi", "thank you"]

    @pytest.mark.parametrize(
        ("value", "problem"),
        [("thanks", "list"), (["x" * 51], "51"), ([["hi"]], "string")],
    )
    def test_the_api_refuses_a_bad_list(
        self, team: Team, client: Client, value: object, problem: str
    ) -> None:
        client.force_login(team.lead)
        url = f"/api/projects/{team.project.pk}/"
        response = client.patch(url, {"filler_words": value}, content_type="application/json")
        assert response.status_code == 400
        assert "filler_words" in response.content.decode()
        team.project.refresh_from_db()
        assert "thanks" in team.project.filler_words

    def test_the_settings_page_edits_them(self, team: Team, client: Client) -> None:
        client.force_login(team.lead)
        url = reverse("project-settings", args=[team.project.pk])
        page = client.get(url).content.decode()
        assert 'data-testid="near-copy-settings"' in page
        form = {
            "name": team.project.name,
            "target_behavior": team.project.target_behavior,
            "labels": "\n".join(team.project.labels),
            "near_filler_words": "Hallo\nbitte",
            "near_filler_language": "",
        }  # the currency box unticked
        assert client.post(url, form).status_code == 302
        team.project.refresh_from_db()
        assert (team.project.filler_words, team.project.currency_folds) == (["hallo", "bitte"], False)
        client.post(url, {**form, "near_filler_language": "fr", "near_currency_folds": "on"})
        team.project.refresh_from_db()
        assert "merci" in team.project.filler_words and team.project.currency_folds


@pytest.mark.django_db
def test_a_new_project_asking_for_novelty_order_is_told_to_freeze_first(team: Team, client: Client) -> None:
    """Found by the API fuzz test: creating a project with labeling_order=novelty was a 500."""
    client.force_login(team.lead)
    body = {"name": "N", "task_type": "classification", "target_behavior": "Route.", "labels": ["a", "b"]}
    response = client.post(
        "/api/projects/", {**body, "labeling_order": "novelty"}, content_type="application/json"
    )
    assert response.status_code == 400
    assert "freeze one first" in response.content.decode()
