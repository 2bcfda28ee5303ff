"""Contradiction jobs: same input, disagreeing outputs -> one flag per disagreeing example."""

from typing import Any

import pytest

from curation.models import (
    ContradictionJob,
    DedupJob,
    Example,
    Flag,
    FlagKind,
    FlagStatus,
    JobStatus,
    TaskType,
)
from curation.services.contradictions import contradictions_run
from curation.services.flags import flag_resolve
from curation.services.jobs import job_run
from curation.tasks import dedup_examples
from tests.api.test_labeling_api import answer, queue, take, with_overlap
from tests.conftest import Team
from tests.factories import ExampleFactory, ProjectFactory


def run(project: Any, **params: Any) -> ContradictionJob:
    job = ContradictionJob.objects.create(project=project, **params)
    job_run(ContradictionJob, job.pk, contradictions_run)
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED, job.error
    return job


def add(project: Any, text: str, output: str) -> int:
    return ExampleFactory.create(project=project, input=text, output=output).pk


@pytest.mark.django_db
class TestClassification:
    def test_the_minority_label_is_flagged_against_the_majority(self, team: Team) -> None:
        majority = add(team.project, "My card has not arrived yet", "card_arrival")
        add(team.project, "my card has not arrived yet!", "card_arrival")
        minority = add(team.project, "My card has not arrived yet.", "lost_or_stolen_card")
        add(team.project, "How do I change my PIN?", "card_linking")

        job = run(team.project, method="exact")

        assert (job.examples_checked, job.groups_checked, job.flags_raised) == (4, 1, 1)
        flag = Flag.objects.get()
        assert list(flag.memberships.order_by("position").values_list("example_id", flat=True)) == [
            majority,
            minority,
        ]
        assert (flag.kind, flag.raised_by, flag.job) == (
            "contradiction",
            "job",
            f"contradiction-job:{job.pk}",
        )
        assert "'card_arrival' vs 'lost_or_stolen_card'" in flag.note

    def test_agreeing_near_duplicates_raise_nothing(self, team: Team) -> None:
        add(team.project, "Exchange rate for euros today?", "exchange_rate")
        add(team.project, "exchange rate for euros today", "exchange_rate")
        assert run(team.project, method="exact").flags_raised == 0

    def test_minhash_catches_reworded_inputs(self, team: Team) -> None:
        text = "I ordered a new card two weeks ago and it still has not arrived, what should I do now?"
        add(team.project, text, "card_arrival")
        add(team.project, text.replace("two weeks", "2 weeks"), "lost_or_stolen_card")
        assert run(team.project, method="minhash", threshold=0.8).flags_raised == 1

    def test_reruns_raise_no_duplicates_and_never_reopen_a_closed_flag(self, team: Team) -> None:
        add(team.project, "Refund for my order", "card_arrival")
        add(team.project, "refund for my order", "exchange_rate")
        run(team.project, method="exact")
        assert run(team.project, method="exact").flags_raised == 0
        flag = Flag.objects.get()
        flag_resolve(flag=flag, user=team.reviewer, resolution="dismiss")
        assert run(team.project, method="exact").flags_raised == 0
        assert Flag.objects.get().status == FlagStatus.DISMISSED

    def test_a_duplicate_is_not_flagged_against_what_its_kept_example_settled(self, team: Team) -> None:
        # Given one input twice under one label and once under another, their flag settled by a
        # reviewer keeping both
        add(team.project, "Is this release any good", "card_arrival")
        add(team.project, "Is this release any good!", "card_arrival")
        neutral = add(team.project, "is this release any good?", "exchange_rate")
        run(team.project, method="exact")
        flag_resolve(flag=Flag.objects.get(), user=team.reviewer, resolution="keep_both")

        # When a copy of the settled example comes, a dedup job marks it its duplicate, and a
        # contradiction job runs again
        copy = add(team.project, "IS THIS RELEASE ANY GOOD", "exchange_rate")
        Example.objects.filter(pk=copy).update(duplicate_of=neutral)
        again = run(team.project, method="exact")

        # Then the duplicate raises no flag: the reviewer's decision stands
        assert (again.examples_checked, again.flags_raised, Flag.objects.count()) == (3, 0, 1)


@pytest.mark.django_db
def test_extraction_compares_json_documents_not_their_spelling() -> None:
    project = ProjectFactory.create(task_type=TaskType.EXTRACTION, labels=[])
    add(project, "Table for 2 at 7pm", '{"people": 2, "time": "19:00"}')
    add(project, "table for 2 at 7pm", '{ "time": "19:00", "people": 2 }')
    assert run(project, method="exact").flags_raised == 0
    add(project, "Table for 2 at 7pm!", '{"people": 3, "time": "19:00"}')
    assert run(project, method="exact").flags_raised == 1


@pytest.mark.django_db
def test_generation_outputs_that_say_the_same_agree() -> None:
    project = ProjectFactory.create(task_type=TaskType.GENERATION, labels=[])
    add(project, "How do I reset my PIN?", "Open the app, go to Card settings and choose Reset PIN.")
    add(project, "how do I reset my PIN", "Open the app, go to Card settings, then choose Reset PIN.")
    assert run(project, method="exact").flags_raised == 0
    add(project, "How do I reset my PIN??", "Visit any branch with your passport.")
    assert run(project, method="exact").flags_raised == 1


@pytest.mark.django_db
def test_over_the_api(team: Team, client_for: Any, django_capture_on_commit_callbacks: Any) -> None:
    add(team.project, "Where is my card", "card_arrival")
    add(team.project, "where is my card?", "card_linking")
    lead = client_for(team.lead)
    with django_capture_on_commit_callbacks(execute=True):
        response = lead.post(
            f"/api/projects/{team.project.pk}/contradiction-jobs/", {"method": "exact"}, format="json"
        )
    assert response.status_code == 202, response.content
    job = lead.get(f"/api/contradiction-jobs/{response.json()['id']}/").json()
    assert (job["status"], job["flags_raised"]) == ("succeeded", 1)
    flags = lead.get(f"/api/projects/{team.project.pk}/flags/?raised_by=job&kind=contradiction").json()[
        "results"
    ]
    assert len(flags) == 1
    bad = lead.post(f"/api/projects/{team.project.pk}/contradiction-jobs/", {"threshold": 2}, format="json")
    assert bad.status_code == 400 and bad.json()["errors"][0]["field"] == "threshold"


@pytest.mark.django_db
def test_a_lead_starts_it_from_the_flags_page(team: Team, django_capture_on_commit_callbacks: Any) -> None:
    from django.test import Client

    add(team.project, "Where is my card", "card_arrival")
    add(team.project, "where is my card?", "card_linking")
    lead, annotator = Client(), Client()
    lead.force_login(team.lead)
    annotator.force_login(team.annotator)
    url = f"/projects/{team.project.pk}/contradictions/"
    assert annotator.post(url, {"method": "exact"}).status_code == 403
    assert "Find contradictions" not in annotator.get(f"/projects/{team.project.pk}/flags/").content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        assert lead.post(url, {"method": "exact", "threshold": "1"}).status_code == 302
    page = lead.get(f"/projects/{team.project.pk}/flags/").content.decode()
    assert "1 flag raised" in page and "contradiction-job:" in page, page[
        page.find("<main>") : page.find("<main>") + 1500
    ]


@pytest.mark.django_db
@pytest.mark.parametrize("job", ["contradiction", "dedup"])
def test_the_answers_of_one_labeled_input_are_left_to_their_disagreement_flag(
    team: Team, client_for: Any, job: str
) -> None:
    # Given an input two annotators labeled differently: one disagreement flag on both answers
    with_overlap(team.project, 2)
    assert queue(client_for(team.lead), team.project, "My card was stolen, help").status_code == 201
    for user, label in ((team.annotator, "card_arrival"), (team.reviewer, "lost_or_stolen_card")):
        client = client_for(user)
        item = take(client, team.project).json()["item"]["id"]
        assert answer(client, item, label).status_code == 201
    disagreement = Flag.objects.get(kind=FlagKind.DISAGREEMENT)

    # When a job compares inputs, before and after a reviewer settles the disagreement
    raised = [run_job(team, job), None]
    flag_resolve(
        flag=disagreement,
        user=team.reviewer,
        resolution="keep_one",
        keep=disagreement.memberships.values_list("example_id", flat=True)[0],
    )
    raised[1] = run_job(team, job)

    # Then it raises no contradiction flag of its own on the pair: one decision, in one place
    assert raised == [0, 0]
    assert list(Flag.objects.values_list("kind", flat=True)) == [FlagKind.DISAGREEMENT]


def run_job(team: Team, job: str) -> int:
    if job == "contradiction":
        return run(team.project, method="exact").flags_raised
    dedup = DedupJob.objects.create(
        project=team.project, created_by=team.lead, method="exact", fields="input"
    )
    dedup_examples(dedup.pk)
    dedup.refresh_from_db()
    assert dedup.status == JobStatus.SUCCEEDED, dedup.error
    return dedup.flags_raised
