"""The suggestion-run pages: a lead launches a run through the form (it runs eagerly here with the
tiny model) and reads its progress, prompt card, quality and suggestions; bad launches are named
on the form; cancel; reviewers read a run, annotators do not; the queue page links here."""

from __future__ import annotations

import html
from typing import Any

import pytest

from curation.models import JobStatus, LabelingItem, Suggestion
from curation.services.labeling import annotation_submit, items_enqueue
from evaluation.models import SuggestionRun
from evaluation.suggestions import suggestion_run_create
from tests.conftest import Team
from tests.curation.ui_support import followed_text, logged_in, text
from tests.factories import ProjectFactory
from tests.training.support import LABELS

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_in_tmp")]

MESSAGES = ["My card still has not arrived", "What exchange rate do you use", "Someone stole my card"]


@pytest.fixture
def queued(team: Team) -> list[LabelingItem]:
    team.project.labels = LABELS
    team.project.save()
    return items_enqueue(project=team.project, user=None, inputs=[{"input": t} for t in MESSAGES]).created


def launch(team: Team, **fields: str) -> Any:
    form = {"model": "base", "base_model": "", "few_shot": "0", "target": "queue", "limit": ""} | fields
    return logged_in(team.lead).post(f"/projects/{team.project.pk}/suggestions/", form)


def test_a_lead_launches_a_run_from_the_form_and_reads_its_page(
    team: Team, queued: list[LabelingItem], tiny_model: str, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        response = launch(team, base_model=tiny_model, limit="2")
    run = SuggestionRun.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/suggestion-runs/{run.pk}/"
    run.refresh_from_db()
    assert run.status == JobStatus.SUCCEEDED, run.error
    assert run.n_targets == run.n_done == 2 and Suggestion.objects.filter(run=run).count() == 2

    # Given one input labeled since, blind: the quality figures count it.
    first = Suggestion.objects.filter(run=run).order_by("item_id").first()
    assert first is not None and first.item is not None
    annotation_submit(item=first.item, user=team.annotator, output=first.output)
    first.item.assignments.update(suggestion=first, suggestion_shown=False)
    page = html.unescape(text(logged_in(team.lead).get(f"/suggestion-runs/{run.pk}/")))
    assert "Suggestion run 1" in page and "2 of 2 inputs done" in page
    assert 'id="quality-figures"' in page and "100.0% <span" in page and "n=1" in page
    assert '"strategy": "label_scores"' in page  # the prompt card
    assert MESSAGES[0] in page and first.output in page  # the suggestions table
    listing = text(logged_in(team.lead).get(f"/projects/{team.project.pk}/suggestions/"))
    assert f'href="/suggestion-runs/{run.pk}/"' in listing and "succeeded" in listing


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"base_model": ""}, "base_model: give a registered model's name"),
        ({"base_model": "/models/base", "few_shot": "2"}, "few_shot: the project has no frozen version"),
        ({"base_model": "/models/base", "target": "drafts"}, "no draft without an output"),
        ({"model": "run:999999", "base_model": ""}, "Select a valid choice"),
        ({"base_model": "/models/base", "limit": "0"}, "greater than or equal to 1"),
    ],
)
def test_bad_launches_are_named_on_the_form(
    team: Team, queued: list[LabelingItem], fields: dict[str, str], error: str
) -> None:
    response = launch(team, **fields)
    assert response.status_code == 200
    page = html.unescape(text(response))
    assert 'data-testid="launch-error"' in page and error in page
    assert not SuggestionRun.objects.exists()


def test_an_empty_queue_is_named(team: Team) -> None:
    page = html.unescape(text(launch(team, base_model="/models/base")))
    assert "the queue has no waiting inputs" in page


def test_cancel_from_the_run_page(team: Team, queued: list[LabelingItem]) -> None:
    SuggestionRun.objects.create(project=ProjectFactory.create(), base_model="/models/base")  # ids != numbers
    run = suggestion_run_create(project=team.project, user=team.lead, base_model="/models/base", queue=False)
    client = logged_in(team.lead)
    page = text(client.get(f"/suggestion-runs/{run.pk}/"))
    assert 'data-testid="cancel-run"' in page and "0 of 3 inputs done" in page
    response = client.post(f"/suggestion-runs/{run.pk}/cancel/")
    assert "Suggestion run 1 is cancelled" in followed_text(client, response)  # the project's number
    run.refresh_from_db()
    assert run.status == JobStatus.CANCELLED
    again = client.post(f"/suggestion-runs/{run.pk}/cancel/")
    assert "already cancelled" in followed_text(client, again)


def test_reviewers_read_a_run_and_annotators_do_not(team: Team, queued: list[LabelingItem]) -> None:
    run = suggestion_run_create(project=team.project, user=team.lead, base_model="/models/base", queue=False)
    reviewer = text(logged_in(team.reviewer).get(f"/suggestion-runs/{run.pk}/"))
    assert "Suggestion run 1" in reviewer and 'data-testid="cancel-run"' not in reviewer
    assert logged_in(team.reviewer).post(f"/suggestion-runs/{run.pk}/cancel/").status_code == 403
    assert logged_in(team.annotator).get(f"/suggestion-runs/{run.pk}/").status_code == 403
    assert logged_in(team.reviewer).get(f"/projects/{team.project.pk}/suggestions/").status_code == 403


def test_the_queue_page_and_dashboard_link_leads_here(team: Team) -> None:
    target = f'href="/projects/{team.project.pk}/suggestions/"'
    assert target in text(logged_in(team.lead).get(f"/projects/{team.project.pk}/label/queue/"))
    assert target in text(logged_in(team.lead).get(f"/projects/{team.project.pk}/"))
    assert target not in text(logged_in(team.annotator).get(f"/projects/{team.project.pk}/"))
