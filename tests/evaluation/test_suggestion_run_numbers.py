"""Suggestion pages name an adapter's training run by its per-project number ("Run 1"), as the
training pages do, not by its id: the launch form's choices, the runs list, a run's page and the
suggestion shown on the label page. The API's model label keeps the id."""

from __future__ import annotations

import html

import pytest

from curation.models import DatasetVersion, JobStatus, LabelingItem
from curation.services.labeling import items_enqueue
from evaluation.models import Comparison, EvalRun, SuggestionRun, Verdict
from tests.conftest import Team
from tests.curation.suggestion_support import suggest
from tests.curation.ui_support import logged_in, text
from tests.factories import MembershipFactory, ProjectFactory
from tests.training.support import FreezeFn
from training.models import TrainingRun

pytestmark = pytest.mark.django_db

ADAPTER = "ab" * 32


def succeeded_run(version: DatasetVersion, name: str = "") -> TrainingRun:
    return TrainingRun.objects.create(
        version=version,
        base_model="/models/base/tiny-banking77",
        version_sha256="",
        status=JobStatus.SUCCEEDED,
        adapter_path="training/run/adapter",
        adapter_sha256=ADAPTER,
        name=name,
    )


def shipped(run: TrainingRun) -> TrainingRun:
    """A comparison of the run's adapter against the baseline said ship."""
    baseline, tuned = (
        EvalRun.objects.create(
            version=run.version, base_model=run.base_model, status=JobStatus.SUCCEEDED, **extra
        )
        for extra in ({}, {"training_run": run})
    )
    said_ship(baseline, tuned)
    return run


def said_ship(baseline: EvalRun, candidate: EvalRun) -> Comparison:
    """A recorded comparison of the two runs whose verdict is ship."""
    return Comparison.objects.create(
        baseline=baseline,
        candidate=candidate,
        metric="accuracy",
        baseline_score=0,
        candidate_score=1,
        delta=1,
        ci_low=0.5,
        ci_high=1,
        resamples=1000,
        verdict=Verdict.SHIP,
        reason="test",
        n=18,
    )


@pytest.fixture
def adapter(team: Team, frozen: FreezeFn) -> TrainingRun:
    """The project's first training run, shipped, whose id is not 1: another project trained first."""
    other = ProjectFactory.create()
    other_lead = MembershipFactory.create(project=other, role="lead").user
    succeeded_run(frozen(other, other_lead, count=20))
    run = shipped(succeeded_run(frozen(team.project, team.lead, count=20), name="first LoRA"))
    assert run.pk != 1
    return run


@pytest.fixture
def suggested(team: Team, adapter: TrainingRun) -> tuple[SuggestionRun, LabelingItem]:
    run = SuggestionRun.objects.create(
        project=team.project,
        base_model=adapter.base_model,
        training_run=adapter,
        adapter_sha256=ADAPTER,
        status=JobStatus.SUCCEEDED,
        progress=1.0,
    )
    (item,) = items_enqueue(project=team.project, user=None, inputs=[{"input": "Where is my card?"}]).created
    suggest(item, "card_arrival", run=run)
    return run, item


def test_the_launch_form_offers_a_shipped_adapter_by_its_run_number(team: Team, adapter: TrainingRun) -> None:
    page = html.unescape(text(logged_in(team.lead).get(f"/projects/{team.project.pk}/suggestions/")))
    assert (
        f'<option value="run:{adapter.pk}">Run 1: first LoRA (tiny-banking77 + adapter abababab)</option>'
        in page
    )
    assert f"Training run {adapter.pk}" not in page


def test_the_runs_list_and_a_runs_page_name_its_training_run_by_number(
    team: Team, adapter: TrainingRun, suggested: tuple[SuggestionRun, LabelingItem]
) -> None:
    run, _ = suggested
    listing = html.unescape(text(logged_in(team.lead).get(f"/projects/{team.project.pk}/suggestions/")))
    assert "<td>Run 1 (tiny-banking77 + adapter abababab)</td>" in listing
    page = html.unescape(text(logged_in(team.reviewer).get(f"/suggestion-runs/{run.pk}/")))
    assert "Run 1 (tiny-banking77 + adapter abababab)" in page
    assert f'href="/training/{adapter.pk}/"' in page
    for shown in (listing, page):
        assert f"training run {adapter.pk} " not in shown.lower()


def test_the_label_page_names_the_suggestions_training_run_by_number(
    team: Team, adapter: TrainingRun, suggested: tuple[SuggestionRun, LabelingItem]
) -> None:
    page = html.unescape(text(logged_in(team.annotator).get(f"/projects/{team.project.pk}/label/")))
    assert "Run 1 (tiny-banking77 + adapter abababab) · confidence 80%" in page


def test_the_api_keeps_the_training_runs_id(
    adapter: TrainingRun, suggested: tuple[SuggestionRun, LabelingItem]
) -> None:
    run, _ = suggested
    assert run.model_label == f"training run {adapter.pk} (tiny-banking77 + adapter abababab)"
