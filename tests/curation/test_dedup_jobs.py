"""Dedup jobs end to end: groups found, keep policy, marks, re-runs, keep and dissolve."""

from datetime import timedelta
from typing import Any

import pytest

from curation.models import (
    ClusterMember,
    ClusterStatus,
    DedupJob,
    DuplicateCluster,
    Example,
    ExampleStatus,
    Flag,
    JobStatus,
    TaskType,
)
from curation.services.dedup import apply_groups, cluster_dissolve, cluster_keep
from curation.services.flags import flag_resolve
from curation.tasks import dedup_examples
from tests.conftest import Team
from tests.factories import ExampleFactory


def run(team: Team, method: str, **params: Any) -> DedupJob:
    job = DedupJob.objects.create(project=team.project, created_by=team.lead, method=method, **params)
    dedup_examples(job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED, job.error
    return job


def example(team: Team, text: str, status: str = ExampleStatus.SUBMITTED) -> Example:
    return ExampleFactory.create(project=team.project, input=text, status=status)


@pytest.mark.django_db
class TestExact:
    def test_case_and_punctuation_variants_form_one_cluster_keeping_the_approved(self, team: Team) -> None:
        first = example(team, "Where is my card?")
        approved = example(team, "where is my card", status=ExampleStatus.APPROVED)
        third = example(team, "WHERE IS MY CARD!!")
        other = example(team, "How do I change my PIN?")

        job = run(team, "exact", threshold=1.0)

        assert (job.examples_checked, job.clusters, job.duplicates_marked) == (4, 1, 2)
        cluster = DuplicateCluster.objects.get()
        assert cluster.kept_id == approved.pk
        marks = dict(Example.objects.values_list("pk", "duplicate_of_id"))
        assert marks == {first.pk: approved.pk, approved.pk: None, third.pk: approved.pk, other.pk: None}

    def test_the_oldest_is_kept_among_equals_and_rejected_examples_are_ignored(self, team: Team) -> None:
        oldest = example(team, "Refund please")
        example(team, "refund please", status=ExampleStatus.REJECTED)
        younger = example(team, "Refund, please!")
        run(team, "exact", threshold=1.0)
        assert DuplicateCluster.objects.get().kept_id == oldest.pk
        assert set(DuplicateCluster.objects.get().members.values_list("example_id", flat=True)) == {
            oldest.pk,
            younger.pk,
        }

    def test_a_rerun_changes_nothing_and_a_new_duplicate_joins_the_cluster(self, team: Team) -> None:
        kept = example(team, "Top up by card")
        example(team, "top up by card")
        run(team, "exact", threshold=1.0)
        again = run(team, "exact", threshold=1.0)
        assert (again.clusters, again.duplicates_marked, DuplicateCluster.objects.count()) == (0, 0, 1)
        newcomer = example(team, "TOP UP BY CARD.")
        later = run(team, "exact", threshold=1.0)
        assert (later.duplicates_marked, DuplicateCluster.objects.count()) == (1, 1)
        newcomer.refresh_from_db()
        assert newcomer.duplicate_of_id == kept.pk


@pytest.mark.django_db
class TestMinHash:
    def test_near_identical_wording_is_found_and_different_text_is_not(self, team: Team) -> None:
        base = "I ordered a new card two weeks ago and it still has not arrived, what should I do?"
        twin = example(team, base)
        near = example(team, base.replace("two weeks", "2 weeks"))
        other = example(team, "Why was I charged a fee for a transfer abroad last Monday afternoon?")

        job = run(team, "minhash", threshold=0.7)

        assert job.clusters == 1
        cluster = DuplicateCluster.objects.get()
        assert set(cluster.members.values_list("example_id", flat=True)) == {twin.pk, near.pk}
        member = cluster.members.get(example_id=near.pk)
        assert member.similarity == 1.0  # short texts compared word by word: "two" is "2"
        other.refresh_from_db()
        assert other.duplicate_of_id is None


@pytest.mark.django_db
class TestDecisions:
    def cluster_of_three(self, team: Team) -> tuple[DuplicateCluster, list[Example]]:
        examples = [example(team, text) for text in ("Lost card", "lost card", "LOST CARD!")]
        run(team, "exact", threshold=1.0)
        return DuplicateCluster.objects.get(), examples

    def test_keep_another_member_moves_every_mark(self, team: Team) -> None:
        cluster, (first, second, third) = self.cluster_of_three(team)
        cluster_keep(cluster=cluster, user=team.reviewer, example_id=third.pk)
        marks = dict(Example.objects.values_list("pk", "duplicate_of_id"))
        assert marks == {first.pk: third.pk, second.pk: third.pk, third.pk: None}
        cluster.refresh_from_db()
        assert (cluster.kept_id, cluster.changed_by) == (third.pk, team.reviewer)

    def test_dissolve_unmarks_and_a_rerun_does_not_recreate_it(self, team: Team) -> None:
        cluster, _ = self.cluster_of_three(team)
        cluster_dissolve(cluster=cluster, user=team.reviewer)
        assert not Example.objects.filter(duplicate_of__isnull=False).exists()
        run(team, "exact", threshold=1.0)
        assert DuplicateCluster.objects.filter(status=ClusterStatus.ACTIVE).count() == 0

    def test_keeping_a_stranger_is_refused(self, team: Team) -> None:
        from curation.errors import InvalidInput

        cluster, _ = self.cluster_of_three(team)
        stranger = example(team, "Something else entirely")
        with pytest.raises(InvalidInput, match="not a member"):
            cluster_keep(cluster=cluster, user=team.reviewer, example_id=stranger.pk)


@pytest.mark.django_db
def test_over_the_api_a_lead_runs_a_job_and_reads_its_clusters(
    team: Team, client_for: Any, django_capture_on_commit_callbacks: Any
) -> None:
    example(team, "Card declined")
    duplicate = example(team, "card declined!")
    lead = client_for(team.lead)
    with django_capture_on_commit_callbacks(execute=True):
        response = lead.post(
            f"/api/projects/{team.project.pk}/dedup-jobs/", {"method": "exact"}, format="json"
        )
    assert response.status_code == 202, response.content
    job = lead.get(f"/api/dedup-jobs/{response.json()['id']}/").json()
    assert (job["status"], job["clusters"], job["duplicates_marked"], job["flags_raised"]) == (
        "succeeded",
        1,
        1,
        0,
    )
    clusters = lead.get(f"/api/dedup-jobs/{job['id']}/clusters/").json()["results"]
    assert [member["example"] for member in clusters[0]["members"]][-1] == duplicate.pk
    assert lead.get(f"/api/examples/{duplicate.pk}/").json()["duplicate_of"] == clusters[0]["kept"]
    dissolved = client_for(team.reviewer).post(f"/api/clusters/{clusters[0]['id']}/dissolve/")
    assert (dissolved.status_code, dissolved.json()["status"]) == (200, "dissolved")
    again = client_for(team.reviewer).post(f"/api/clusters/{clusters[0]['id']}/dissolve/")
    assert again.status_code == 409


@pytest.mark.django_db
def test_a_job_that_grew_an_older_cluster_lists_it_among_its_clusters(team: Team, client_for: Any) -> None:
    # Given a cluster an exact job made, and a later job that adds a newcomer to it
    example(team, "Card declined")
    example(team, "card declined!")
    first = run(team, "exact")
    newcomer = example(team, "CARD DECLINED")
    later = run(team, "exact")
    assert (later.clusters, later.duplicates_marked) == (1, 1)

    # Then each job's clusters list the cluster: the one that made it and the one that grew it
    lead = client_for(team.lead)
    for job in (first, later):
        clusters = lead.get(f"/api/dedup-jobs/{job.pk}/clusters/").json()["results"]
        assert [cluster["id"] for cluster in clusters] == [DuplicateCluster.objects.get().pk]
    members = lead.get(f"/api/dedup-jobs/{later.pk}/clusters/").json()["results"][0]["members"]
    assert newcomer.pk in [member["example"] for member in members]


@pytest.mark.django_db
class TestFailedApply:
    """The apply phase runs in one transaction: a failure in it leaves nothing half-applied."""

    def pairs(self, team: Team, *texts: str) -> list[Example]:
        return [example(team, variant) for text in texts for variant in (text, text.upper())]

    @pytest.mark.parametrize(
        "failing_step",
        [
            "curation.services.dedup.ClusterMember.objects.bulk_create",  # clusters made, no members
            "curation.services.dedup._mark_duplicates",  # clusters and members made, no marks
        ],
    )
    def test_a_failure_while_applying_leaves_no_cluster_and_no_mark(
        self, team: Team, monkeypatch: pytest.MonkeyPatch, failing_step: str
    ) -> None:
        # Given two pairs of duplicates, and a step of the apply phase that fails after the first
        self.pairs(team, "Lost card", "Card declined")
        calls = 0

        def failing(*args: Any, **kwargs: Any) -> Any:
            nonlocal calls
            calls += 1
            assert DuplicateCluster.objects.exists()  # the failure is after the clusters were made
            raise RuntimeError("database went away")

        monkeypatch.setattr(failing_step, failing)

        # When the job runs
        job = DedupJob.objects.create(project=team.project, created_by=team.lead, method="exact")
        dedup_examples(job.pk)

        # Then it failed with the error recorded, and nothing of its work remains
        job.refresh_from_db()
        assert calls == 1
        assert job.status == JobStatus.FAILED
        assert "database went away" in job.error
        assert "RuntimeError" in job.traceback
        assert job.finished_at is not None
        assert (job.clusters, job.duplicates_marked) == (0, 0)
        assert not DuplicateCluster.objects.exists()
        assert not ClusterMember.objects.exists()
        assert not Example.objects.filter(duplicate_of__isnull=False).exists()

        # And a new job, without the failure, does the whole work
        monkeypatch.undo()
        again = run(team, "exact")
        assert (again.clusters, again.duplicates_marked) == (2, 2)
        assert DuplicateCluster.objects.filter(job=again).count() == 2
        assert Example.objects.filter(duplicate_of__isnull=False).count() == 2

    def test_a_failed_rerun_keeps_the_earlier_clusters_as_they_were(
        self, team: Team, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # Given a cluster from an earlier job, then a newcomer to it and a new pair
        kept, duplicate = self.pairs(team, "Top up failed")
        run(team, "exact")
        before = dict(Example.objects.values_list("pk", "duplicate_of_id"))
        newcomer = example(team, "top up failed!!")
        self.pairs(team, "Exchange rate")

        def failing_bulk_create(*args: Any, **kwargs: Any) -> Any:
            raise RuntimeError("disk full")

        monkeypatch.setattr("curation.services.dedup.ClusterMember.objects.bulk_create", failing_bulk_create)

        # When a new job fails while applying
        job = DedupJob.objects.create(project=team.project, created_by=team.lead, method="exact")
        dedup_examples(job.pk)

        # Then the earlier cluster and marks are untouched and nothing new is marked
        job.refresh_from_db()
        assert (job.status, job.error) == (JobStatus.FAILED, "disk full")
        assert DuplicateCluster.objects.count() == 1
        assert ClusterMember.objects.count() == 2
        marks = dict(Example.objects.values_list("pk", "duplicate_of_id"))
        assert {pk: marks[pk] for pk in before} == before
        assert marks[duplicate.pk] == kept.pk
        assert not Example.objects.filter(duplicate_of__isnull=False).exclude(pk=duplicate.pk).exists()
        assert marks[newcomer.pk] is None


@pytest.mark.django_db
class TestFields:
    def same_question_two_answers(self, team: Team) -> tuple[Example, Example]:
        first = ExampleFactory.create(
            project=team.project, input="My card hasn't come", output="card_arrival"
        )
        second = ExampleFactory.create(
            project=team.project, input="my card hasn't come!", output="lost_or_stolen_card"
        )
        return first, second

    @pytest.mark.parametrize("method", ["exact", "minhash"])
    def test_input_output_keeps_apart_same_input_with_different_outputs(
        self, team: Team, method: str
    ) -> None:
        # Given the same question answered two ways
        self.same_question_two_answers(team)

        # When a job compares inputs and outputs
        job = run(team, method, fields="input_output")

        # Then they are not duplicates
        assert (job.clusters, job.duplicates_marked) == (0, 0)
        assert not DuplicateCluster.objects.exists()
        assert not Example.objects.filter(duplicate_of__isnull=False).exists()

    @pytest.mark.parametrize("method", ["exact", "minhash"])
    def test_input_only_flags_two_labels_as_a_contradiction_not_duplicates(
        self, team: Team, method: str
    ) -> None:
        # Given the same question under two labels
        first, second = self.same_question_two_answers(team)

        # When a job compares inputs only
        job = run(team, method, fields="input", threshold=0.5 if method == "minhash" else None)

        # Then neither is a duplicate of the other (that would quietly pick a label): they are flagged
        assert (job.clusters, job.duplicates_marked, job.flags_raised) == (0, 0, 1)
        assert not Example.objects.filter(duplicate_of__isnull=False).exists()
        flag = Flag.objects.get()
        assert (flag.kind, flag.status, flag.job) == ("contradiction", "open", f"dedup-job:{job.pk}")
        assert list(flag.examples.order_by("flag_memberships__position")) == [first, second]
        assert flag.note == "Inputs alike, outputs differ: 'card_arrival' vs 'lost_or_stolen_card'."

    @pytest.mark.parametrize("method", ["exact", "minhash"])
    def test_input_only_on_free_text_makes_them_duplicates(self, team: Team, method: str) -> None:
        # Given a generation project: one question answered in two wordings
        team.project.task_type = TaskType.GENERATION
        team.project.save()
        first, second = self.same_question_two_answers(team)

        # When a job compares inputs only
        job = run(team, method, fields="input", threshold=0.5 if method == "minhash" else None)

        # Then they are duplicates (one answer per question): the older is kept, nothing flagged
        assert (job.clusters, job.duplicates_marked, job.flags_raised) == (1, 1, 0)
        second.refresh_from_db()
        assert second.duplicate_of_id == first.pk
        assert not Flag.objects.exists()

    def test_each_label_keeps_its_own_cluster_and_the_minority_is_flagged_against_the_majority(
        self, team: Team
    ) -> None:
        # Given one question three times as card_arrival (one approved), twice as lost_or_stolen_card
        older_minority = ExampleFactory.create(
            project=team.project, input="Card not here", output="lost_or_stolen_card"
        )
        majority = [
            ExampleFactory.create(project=team.project, input=text, output="card_arrival", status=status)
            for text, status in [
                ("card not here", ExampleStatus.SUBMITTED),
                ("Card not here!", ExampleStatus.APPROVED),
                ("CARD NOT HERE", ExampleStatus.SUBMITTED),
            ]
        ]
        minority_twin = ExampleFactory.create(
            project=team.project, input="card, not here", output="lost_or_stolen_card"
        )

        # When an exact job compares inputs only
        job = run(team, "exact")

        # Then each label's examples form their own cluster, and one flag sets the majority's kept
        # example against the minority's
        kept = {
            cluster.kept_id: set(cluster.members.values_list("example_id", flat=True))
            for cluster in DuplicateCluster.objects.all()
        }
        assert kept == {
            majority[1].pk: {e.pk for e in majority},
            older_minority.pk: {older_minority.pk, minority_twin.pk},
        }
        assert (job.clusters, job.duplicates_marked, job.flags_raised) == (2, 3, 1)
        assert list(Flag.objects.get().examples.order_by("flag_memberships__position")) == [
            majority[1],
            older_minority,
        ]

        # And a re-run changes nothing, and raises no second flag
        again = run(team, "exact")
        assert (again.clusters, again.duplicates_marked, again.flags_raised, Flag.objects.count()) == (
            0,
            0,
            0,
            1,
        )

    def test_a_newcomer_under_another_label_does_not_join_the_cluster_and_is_flagged(
        self, team: Team
    ) -> None:
        # Given a cluster of one question as card_arrival
        kept = ExampleFactory.create(project=team.project, input="Where is my card", output="card_arrival")
        ExampleFactory.create(project=team.project, input="where is my card?", output="card_arrival")
        run(team, "exact")

        # When the question comes again as another label and the job runs again
        newcomer = ExampleFactory.create(
            project=team.project, input="WHERE IS MY CARD", output="card_delivery"
        )
        job = run(team, "exact")

        # Then it is not marked a duplicate of the kept example; the two are flagged
        newcomer.refresh_from_db()
        assert (newcomer.duplicate_of_id, job.duplicates_marked, job.flags_raised) == (None, 0, 1)
        assert set(Flag.objects.get().examples.all()) == {kept, newcomer}

    def test_a_resolved_flag_is_not_raised_again(self, team: Team) -> None:
        _, second = self.same_question_two_answers(team)
        run(team, "exact")
        flag_resolve(flag=Flag.objects.get(), user=team.reviewer, resolution="keep_first")

        again = run(team, "exact")

        assert (again.flags_raised, Flag.objects.count()) == (0, 1)
        second.refresh_from_db()
        assert second.status == ExampleStatus.REJECTED

    def test_input_output_finds_the_same_question_with_the_same_answer(self, team: Team) -> None:
        first = ExampleFactory.create(project=team.project, input="Card declined", output="declined_card")
        second = ExampleFactory.create(project=team.project, input="card declined.", output="declined_card")

        job = run(team, "exact", fields="input_output")

        assert job.duplicates_marked == 1
        second.refresh_from_db()
        assert second.duplicate_of_id == first.pk

    def test_input_output_never_marks_another_label_a_duplicate_however_long_the_input(
        self, team: Team
    ) -> None:
        # Given one long input under two labels: sketched together, input and label pass 0.8
        text = (
            "I have been waiting for my new card for three weeks now and it has still not arrived; "
            "the app says it was sent on the first of the month, and support has not answered me yet"
        )
        first = ExampleFactory.create(project=team.project, input=text, output="card_arrival")
        second = ExampleFactory.create(project=team.project, input=text + " :)", output="lost_or_stolen_card")

        # When a MinHash job compares inputs and outputs
        job = run(team, "minhash", fields="input_output")

        # Then neither is a duplicate of the other (nor flagged: only input-only jobs flag)
        assert (job.clusters, job.duplicates_marked, job.flags_raised) == (0, 0, 0)
        second.refresh_from_db()
        assert second.duplicate_of_id is None and first.pk

    def test_input_output_does_not_join_the_input_to_the_output(self, team: Team) -> None:
        # Given three examples whose inputs and outputs all differ, but read the same run together
        ExampleFactory.create(project=team.project, input="Where is my card", output="card arrival")
        ExampleFactory.create(project=team.project, input="Where is my", output="card card arrival")
        ExampleFactory.create(project=team.project, input="Where is my card card", output="arrival")

        # When an exact job compares inputs and outputs
        job = run(team, "exact", fields="input_output")

        # Then none is a duplicate: each has another input and another output
        assert (job.clusters, job.duplicates_marked) == (0, 0)


@pytest.mark.django_db
class TestKeepPolicy:
    @pytest.mark.parametrize(
        ("statuses", "kept_index"),
        [
            pytest.param(["needs_changes", "draft", "submitted", "approved"], 3, id="approved first"),
            pytest.param(["needs_changes", "draft", "submitted"], 2, id="then submitted"),
            pytest.param(["needs_changes", "draft"], 1, id="then draft"),
            pytest.param(["submitted", "approved", "approved"], 1, id="oldest among approved"),
            pytest.param(["needs_changes", "needs_changes"], 0, id="oldest among others"),
        ],
    )
    def test_the_best_status_is_kept_then_the_oldest(
        self, team: Team, statuses: list[str], kept_index: int
    ) -> None:
        # Given duplicates with these statuses, the first created the oldest
        texts = ["Change my PIN", "change my pin", "CHANGE MY PIN!", "Change my PIN."]
        examples = [example(team, text, status=status) for text, status in zip(texts, statuses, strict=False)]

        # When an exact job runs
        run(team, "exact")

        # Then the kept one is the expected one, and all others point to it
        kept = examples[kept_index]
        assert DuplicateCluster.objects.get().kept_id == kept.pk
        marks = dict(Example.objects.values_list("pk", "duplicate_of_id"))
        assert marks == {item.pk: (None if item == kept else kept.pk) for item in examples}

    def test_oldest_means_created_first_not_lowest_id(self, team: Team) -> None:
        # Given two approved duplicates, the one with the higher id created a day earlier
        newer = example(team, "Freeze my card", status=ExampleStatus.APPROVED)
        older = example(team, "freeze my card", status=ExampleStatus.APPROVED)
        Example.objects.filter(pk=older.pk).update(created_at=newer.created_at - timedelta(days=1))

        # When an exact job runs
        run(team, "exact")

        # Then the older one is kept
        assert DuplicateCluster.objects.get().kept_id == older.pk

    def test_status_beats_age(self, team: Team) -> None:
        # Given an old draft and a newer approved duplicate
        draft = example(team, "Cancel a transfer", status=ExampleStatus.DRAFT)
        approved = example(team, "cancel a transfer", status=ExampleStatus.APPROVED)
        Example.objects.filter(pk=draft.pk).update(created_at=approved.created_at - timedelta(days=30))

        # When an exact job runs
        run(team, "exact")

        # Then the approved one is kept
        assert DuplicateCluster.objects.get().kept_id == approved.pk


@pytest.mark.django_db
class TestChains:
    def test_a_chain_of_similar_pairs_is_cut_so_every_duplicate_is_like_its_kept_example(
        self, team: Team
    ) -> None:
        # Given a group joined by similar pairs a~b and b~c, where a and c are not alike
        a = example(team, "first", status=ExampleStatus.APPROVED)
        b = example(team, "second")
        c = example(team, "third")
        d = example(team, "fourth")
        table = {frozenset((a.pk, b.pk)): 0.9, frozenset((b.pk, c.pk)): 0.85, frozenset((c.pk, d.pk)): 0.9}
        job = DedupJob.objects.create(
            project=team.project, created_by=team.lead, method="minhash", threshold=0.8
        )

        # When the group is applied
        apply_groups(job, [[a.pk, b.pk, c.pk, d.pk]], lambda x, y: table.get(frozenset((x, y)), 0.1), 4)

        # Then b joins a (the approved leader), c leads its own cluster with d, and nothing is
        # marked a duplicate of an example it is not like
        clusters = {
            cluster.kept_id: sorted(cluster.members.values_list("example_id", flat=True))
            for cluster in DuplicateCluster.objects.all()
        }
        assert clusters == {a.pk: sorted([a.pk, b.pk]), c.pk: sorted([c.pk, d.pk])}
        assert all(member.similarity >= 0.8 for member in ClusterMember.objects.all())

    def test_a_newcomer_joins_an_existing_cluster_only_if_it_is_like_the_kept_example(
        self, team: Team
    ) -> None:
        # Given an active cluster a <- b
        a = example(team, "a", status=ExampleStatus.APPROVED)
        b = example(team, "b")
        first = DedupJob.objects.create(
            project=team.project, created_by=team.lead, method="minhash", threshold=0.8
        )
        apply_groups(first, [[a.pk, b.pk]], lambda x, y: 0.9, 2)

        # When a later job groups b with newcomers: c like a, d like b only
        c, d = example(team, "c"), example(team, "d")
        table = {frozenset((c.pk, a.pk)): 0.9, frozenset((d.pk, b.pk)): 0.9, frozenset((c.pk, b.pk)): 0.9}
        later = DedupJob.objects.create(
            project=team.project, created_by=team.lead, method="minhash", threshold=0.8
        )
        apply_groups(later, [[a.pk, b.pk, c.pk, d.pk]], lambda x, y: table.get(frozenset((x, y)), 0.1), 4)

        # Then c joins the cluster, and d (not like a) is left alone
        cluster = DuplicateCluster.objects.get()
        assert sorted(cluster.members.values_list("example_id", flat=True)) == sorted([a.pk, b.pk, c.pk])
        assert Example.objects.get(pk=d.pk).duplicate_of_id is None
