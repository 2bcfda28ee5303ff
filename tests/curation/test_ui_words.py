"""Pages speak in words: status labels instead of enum values, per-project numbers in titles,
no dangling punctuation, a queued run says so, a destructive button asks first (issue 21, 7-8)."""

from __future__ import annotations

import pytest
from django.utils import timezone

from curation.models import DatasetVersion, FlagKind, JobStatus, Role
from curation.services.flags import flag_create, flag_resolve
from evaluation.models import Comparison, DriftReport
from evaluation.monitoring import deployment_create
from evaluation.services import comparison_create
from tests.conftest import Team
from tests.curation.ui_support import logged_in, reviewed, text, written
from tests.evaluation.test_pages_and_command import scored_run
from tests.factories import MembershipFactory, ProjectFactory
from tests.training.support import FreezeFn
from training.models import TrainingRun


def run_of(version: DatasetVersion, **fields: object) -> TrainingRun:
    return TrainingRun.objects.create(
        version=version, base_model="/models/base", version_sha256=version.sha256, **fields
    )


@pytest.mark.django_db
class TestStatusWords:
    def test_dashboard_counters_say_needs_changes(self, team: Team) -> None:
        example = written(team.project, team.annotator, "Where is my card?")
        reviewed(example, team.reviewer, "request_changes", "Which card?")
        page = text(logged_in(team.annotator).get(f"/projects/{team.project.pk}/"))
        assert '<span class="label">needs changes</span>' in page and ">needs_changes<" not in page

    def test_a_flag_card_says_the_status_in_words(self, team: Team) -> None:
        first = written(team.project, team.annotator, "Where is my card?")
        second = written(team.project, team.annotator, "Where is my card now?", "card_linking")
        reviewed(first, team.reviewer, "request_changes", "Which card?")
        flag = flag_create(
            project=team.project,
            user=team.annotator,
            kind=FlagKind.CONTRADICTION,
            example_ids=[first.pk, second.pk],
        )
        page = text(logged_in(team.reviewer).get(f"/flags/{flag.pk}/"))
        assert ">needs changes</span>" in page and ">needs_changes<" not in page

    def test_a_resolution_note_ends_with_one_full_stop(self, team: Team) -> None:
        first = written(team.project, team.annotator, "Where is my card?")
        second = written(team.project, team.annotator, "Where is my card now?", "card_linking")
        flag = flag_create(
            project=team.project,
            user=team.annotator,
            kind=FlagKind.CONTRADICTION,
            example_ids=[first.pk, second.pk],
        )
        flag_resolve(flag=flag, user=team.reviewer, resolution="keep_both", note="Both are right.")
        page = text(logged_in(team.reviewer).get(f"/flags/{flag.pk}/"))
        assert "Both are right." in page and "Both are right.." not in page
        assert "Closed as <b>Keep both</b>" in page


@pytest.mark.django_db
class TestNumbersAndRuns:
    def test_a_projects_first_run_is_run_1_whatever_its_id(self, team: Team, frozen: FreezeFn) -> None:
        # Given another project's run first, then this project's first run
        other = ProjectFactory.create()
        MembershipFactory.create(project=other, user=team.lead, role=Role.LEAD)
        run_of(frozen(other, team.lead), status=JobStatus.SUCCEEDED)
        version = frozen(team.project, team.lead)
        run = run_of(version, status=JobStatus.QUEUED)
        client = logged_in(team.lead)

        page = text(client.get(f"/training/{run.pk}/"))
        listing = text(client.get(f"/projects/{team.project.pk}/training/"))

        assert "<title>Run 1 ·" in page and "<h1>Run 1" in page
        assert f'<a href="/training/{run.pk}/">1</a>' in listing

    def test_a_queued_run_says_queued_and_cancel_asks_first(self, team: Team, frozen: FreezeFn) -> None:
        run = run_of(frozen(team.project, team.lead), status=JobStatus.QUEUED)
        page = text(logged_in(team.lead).get(f"/training/{run.pk}/"))
        assert "queued: waiting for a worker" in page and "step 0 of 0" not in page
        assert 'data-confirm="Cancel run 1?' in page

    def test_a_cancelled_run_without_a_first_eval_has_no_empty_brackets(
        self, team: Team, frozen: FreezeFn
    ) -> None:
        run = run_of(
            frozen(team.project, team.lead),
            status=JobStatus.CANCELLED,
            best_step=2,
            best_eval_loss=1.5,
            total_steps=10,
            step=2,
        )
        page = text(logged_in(team.lead).get(f"/training/{run.pk}/"))
        assert "best eval loss 1.5000 at step 2" in page and "(before training" not in page

    def test_the_version_header_says_frozen_once(self, team: Team, frozen: FreezeFn) -> None:
        version = frozen(team.project, team.lead)
        page = text(logged_in(team.lead).get(f"/versions/{version.pk}/"))
        assert ">frozen</span>" in page and "frozen frozen" not in " ".join(page.split())


@pytest.fixture
def comparison(team: Team, frozen: FreezeFn) -> Comparison:
    version = frozen(team.project, team.lead)
    eval_ids = list(version.items.filter(split="eval").values_list("example_id", flat=True))
    baseline = scored_run(version, dict.fromkeys(eval_ids[:6], "wrong"))
    candidate = scored_run(version, {eval_ids[6]: "wrong"})
    return comparison_create(baseline=baseline, candidate=candidate, user=team.lead)


@pytest.mark.django_db
def test_the_comparison_names_runs_by_project_number_and_guardrails_in_words(
    team: Team, comparison: Comparison
) -> None:
    page = text(logged_in(team.reviewer).get(f"/comparisons/{comparison.pk}/"))
    assert "<h1>Comparison 1: eval run 2 against eval run 1</h1>" in page
    assert "Guardrail: answers that name no label" in page and "guardrail invalid_label" not in page
    # The line says which way the guardrail moved, not only which way is worse
    assert "0.000 → 0.000 (unchanged: worse when higher; p = 1.0000)" in page


@pytest.mark.django_db
def test_an_alert_report_is_shown_in_the_warning_style(team: Team, frozen: FreezeFn) -> None:
    run = run_of(
        frozen(team.project, team.lead),
        status=JobStatus.SUCCEEDED,
        adapter_path="training/run-0/adapter",
        adapter_sha256="0" * 64,
    )
    deployment = deployment_create(training_run=run, user=None, name="prod")
    now = timezone.now()
    DriftReport.objects.create(
        deployment=deployment,
        window_start=now,
        window_end=now,
        n=70,
        enough_data=True,
        ood_rate=0.5,
        input_drift=0.9,
        alert=True,
        reasons=["Half the inputs are out of distribution."],
    )
    page = text(logged_in(team.lead).get(f"/deployments/{deployment.pk}/"))
    assert '<section class="card alert" id="latest" role="alert">' in page
    assert '<div class="columns even">' in page  # the two drift charts get equal columns
