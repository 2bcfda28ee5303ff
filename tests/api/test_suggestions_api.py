"""The suggestion-run API: launch (eager here, with the tiny model) to suggestions, the run's
fields and quality, its paged suggestions, cancel (409 once finished), and bad input named.
Who may call what is in tests/api/test_permissions.py."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from curation.models import JobStatus, LabelingItem, Role, Suggestion
from curation.services.labeling import annotation_submit, items_enqueue
from evaluation.models import SuggestionRun
from evaluation.suggestions import suggestion_run_create
from tests.api.support import error_fields
from tests.api.test_permissions import Scene
from tests.conftest import Team
from tests.factories import MembershipFactory, ProjectFactory
from tests.training.support import LABELS

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_in_tmp")]

ClientFor = Callable[[User | None], APIClient]
MESSAGES = ["My card still has not arrived", "What exchange rate do you use", "Someone stole my card"]


@pytest.fixture
def queued(team: Team) -> list[LabelingItem]:
    team.project.labels = LABELS
    team.project.save()
    return items_enqueue(project=team.project, user=None, inputs=[{"input": t} for t in MESSAGES]).created


def runs_url(team: Team) -> str:
    return f"/api/projects/{team.project.pk}/suggestion-runs/"


def test_launch_suggests_and_reports_the_run(
    team: Team,
    queued: list[LabelingItem],
    tiny_model: str,
    client_for: ClientFor,
    django_capture_on_commit_callbacks: Any,
) -> None:
    lead = client_for(team.lead)
    with django_capture_on_commit_callbacks(execute=True):
        response = lead.post(runs_url(team), {"base_model": tiny_model, "seed": 7}, format="json")
    assert response.status_code == 201, response.json()
    created = response.json()
    assert created["status"] == JobStatus.QUEUED and created["n_targets"] == 3 and created["quality"] is None
    assert created["adapter_sha256"] == "" and created["training_run"] is None and created["seed"] == 7

    # Given the first input labeled since, blind
    item = queued[0]
    detail = lead.get(f"/api/suggestion-runs/{created['id']}/").json()
    assert detail["status"] == JobStatus.SUCCEEDED and detail["n_done"] == 3 and detail["n_skipped"] == 0
    assert detail["prompt_card"]["decoding"]["strategy"] == "label_scores" and detail["model"]
    page = lead.get(f"/api/suggestion-runs/{created['id']}/suggestions/", {"page_size": 2}).json()
    assert len(page["results"]) == 2 and page["next"]
    everything = lead.get(f"/api/suggestion-runs/{created['id']}/suggestions/").json()["results"]
    mine = next(row for row in everything if row["item"] == item.pk)
    assert mine["input"] == MESSAGES[0] and mine["example"] is None and mine["output"] in LABELS
    assert (
        mine["valid"] and 0 < mine["confidence"] <= 1 and mine["alternatives"][0]["label"] == mine["output"]
    )
    annotation_submit(item=item, user=team.annotator, output=mine["output"])
    item.assignments.update(suggestion_id=mine["id"], suggestion_shown=False)

    # Then the run's quality counts it, with its interval
    quality = client_for(team.reviewer).get(f"/api/suggestion-runs/{created['id']}/").json()["quality"]
    assert quality["n_suggestions"] == 3 and quality["n_labeled"] == 1 and quality["metrics"] == ["accuracy"]
    assert quality["final"]["accuracy"] == {"value": 1.0, "low": 1.0, "high": 1.0, "n": 1}
    assert quality["blind"]["accuracy"]["n"] == 1 and quality["answers"]["accuracy"]["n"] == 1
    assert quality["bands"][0]["estimate"]["n"] == 1
    listed = lead.get(runs_url(team)).json()["results"]
    assert [run["id"] for run in listed] == [created["id"]] and "quality" not in listed[0]


def test_cancel_then_409_once_finished(team: Team, queued: list[LabelingItem], client_for: ClientFor) -> None:
    run = suggestion_run_create(project=team.project, user=team.lead, base_model="/models/base", queue=False)
    lead = client_for(team.lead)
    response = lead.post(f"/api/suggestion-runs/{run.pk}/cancel/")
    assert response.status_code == 200 and response.json()["status"] == JobStatus.CANCELLED
    again = lead.post(f"/api/suggestion-runs/{run.pk}/cancel/")
    assert again.status_code == 409 and "already cancelled" in again.json()["detail"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"base_model": ""}, "base_model"),
        ({"base_model": "/m", "few_shot": 99}, "few_shot"),
        ({"base_model": "/m", "few_shot": 2}, "few_shot"),  # no frozen version to draw from
        ({"base_model": "/m", "target": "everything"}, "target"),
        ({"base_model": "/m", "limit": 0}, "limit"),
        ({"base_model": "/m", "limit": 10**9}, "limit"),
        ({"base_model": "/m", "ids": [10**9]}, "ids"),
        ({"base_model": "/m", "ids": "all"}, "ids"),
        ({"training_run": 10**9}, "training_run"),
        ({"base_model": "/m", "temperature": 0.7}, "temperature"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(
    team: Team, queued: list[LabelingItem], client_for: ClientFor, body: dict[str, Any], field: str
) -> None:
    response = client_for(team.lead).post(runs_url(team), body, format="json")
    assert response.status_code == 400, response.json()
    assert error_fields(response) == [field]


def test_an_empty_queue_and_another_projects_training_run_are_named(
    team: Team, client_for: ClientFor
) -> None:
    lead = client_for(team.lead)
    empty = lead.post(runs_url(team), {"base_model": "/m"}, format="json")
    assert empty.status_code == 400 and error_fields(empty) == ["target"]
    other = ProjectFactory.create()
    MembershipFactory.create(project=other, role=Role.LEAD)
    elsewhere = Scene(team=team, other=other).training_run(other, with_adapter=True)
    refused = lead.post(runs_url(team), {"training_run": elsewhere.pk}, format="json")
    assert refused.status_code == 400 and error_fields(refused) == ["training_run"]


@pytest.mark.parametrize("rows", [1, 30])
def test_lists_take_the_same_queries_whatever_their_length(
    team: Team, client_for: ClientFor, django_assert_num_queries: Any, rows: int
) -> None:
    team.project.labels = LABELS
    team.project.save()
    inputs = [{"input": f"Where is card {n}?"} for n in range(rows)]
    items = items_enqueue(project=team.project, user=None, inputs=inputs).created
    for _ in range(rows):
        suggestion_run_create(project=team.project, user=team.lead, base_model="/m", queue=False)
    run = SuggestionRun.objects.latest("id")
    Suggestion.objects.bulk_create(
        Suggestion(run=run, project=team.project, item=item, output=LABELS[0], confidence=0.5)
        for item in items
    )
    lead = client_for(team.lead)
    # However long the page: a fixed number of queries (auth, the project and role, the rows).
    with django_assert_num_queries(4):
        assert len(lead.get(runs_url(team)).json()["results"]) == rows
    with django_assert_num_queries(4):
        assert len(lead.get(f"/api/suggestion-runs/{run.pk}/suggestions/").json()["results"]) == rows
