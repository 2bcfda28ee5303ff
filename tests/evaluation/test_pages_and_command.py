"""`manage.py evaluate`, and the evaluation pages: the leaderboard, a comparison with its
verdict and flipped items, and the way back to the data (send back for review, flag)."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from curation.models import DatasetVersion, Example, ExampleStatus, Flag, JobStatus, Split, VersionItem
from evaluation.models import Comparison, EvalPrediction, EvalRun
from evaluation.services import comparison_create
from tests.conftest import Team
from tests.curation.ui_support import logged_in
from tests.evaluation.test_eval_runs import trained
from tests.training.support import FreezeFn, base_model_row

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_in_tmp")]


def test_evaluate_command_runs_baseline_tuned_and_compares(
    team: Team, frozen: FreezeFn, tiny_model: str
) -> None:
    version = frozen(team.project, team.lead, count=90)
    run = trained(version, tiny_model)
    out = StringIO()
    call_command(
        "evaluate", "--dataset-version", str(version.pk), "--training-run", str(run.pk), "--json", stdout=out
    )
    outcome = json.loads(out.getvalue())
    assert outcome["comparison"]["verdict"] == "ship"
    assert EvalRun.objects.count() == 2

    again = StringIO()  # finished runs are reused: nothing is evaluated twice
    call_command(
        "evaluate", "--dataset-version", str(version.pk), "--training-run", str(run.pk), stdout=again
    )
    assert EvalRun.objects.count() == 2
    assert (
        "verdict: ship" in again.getvalue()
        and f"baseline (eval run {outcome['baseline']['id']})" in again.getvalue()
    )


def test_evaluate_command_names_bad_arguments(team: Team, frozen: FreezeFn) -> None:
    with pytest.raises(CommandError, match="No dataset version 999"):
        call_command("evaluate", "--dataset-version", "999", stdout=StringIO())
    version = frozen(team.project, team.lead)
    with pytest.raises(CommandError, match="base_model"):
        call_command("evaluate", "--dataset-version", str(version.pk), stdout=StringIO())


def scored_run(version: DatasetVersion, answers: dict[int, str]) -> EvalRun:
    """A finished run whose answers per example are given (scored as classification)."""
    run = EvalRun.objects.create(version=version, base_model="/models/base", status=JobStatus.SUCCEEDED)
    items = VersionItem.objects.filter(version=version, split=Split.EVAL)
    rows = []
    for item in items:
        answer = answers.get(item.example_id, item.output)
        correct = float(answer == item.output)
        rows.append(
            EvalPrediction(
                run=run,
                example_id=item.example_id,
                input=item.input,
                reference=item.output,
                raw=answer,
                extracted=answer,
                scores={"accuracy": correct, "invalid_label": 0.0},
            )
        )
    EvalPrediction.objects.bulk_create(rows)
    run.metrics = {"accuracy": sum(r.scores["accuracy"] for r in rows) / len(rows), "invalid_label": 0.0}
    run.n = len(rows)
    run.save()
    return run


@pytest.fixture
def comparison(team: Team, frozen: FreezeFn) -> Comparison:
    version = frozen(team.project, team.lead)
    eval_ids = list(
        VersionItem.objects.filter(version=version, split=Split.EVAL).values_list("example_id", flat=True)
    )
    baseline = scored_run(version, dict.fromkeys(eval_ids[:6], "wrong"))
    candidate = scored_run(version, {eval_ids[6]: "wrong"})
    return comparison_create(baseline=baseline, candidate=candidate, user=team.lead)


def test_leaderboard_and_comparison_pages(team: Team, comparison: Comparison) -> None:
    version = comparison.baseline.version
    board = logged_in(team.annotator).get(f"/versions/{version.pk}/evaluation/").content.decode()
    assert "<td>eval run 2</td>" in board and "Launch eval run" not in board  # per-project numbers
    # The verdict's bar is shown beside it: the same pair may be judged against another minimum gain
    assert "<th>Minimum gain</th>" in board and f"<td>{comparison.min_gain:.4f}</td>" in board
    assert (
        "Launch eval run" in logged_in(team.lead).get(f"/versions/{version.pk}/evaluation/").content.decode()
    )
    assert logged_in(team.outsider).get(f"/versions/{version.pk}/evaluation/").status_code == 404

    page = logged_in(team.reviewer).get(f"/comparisons/{comparison.pk}/").content.decode()
    assert comparison.get_verdict_display() in page and comparison.reason.split(";")[0] in page
    assert page.count("Send back for review") == 7  # six fixes and one regression
    assert 'class="interval verdict-' in page
    assert (
        "Send back for review"
        not in logged_in(team.annotator).get(f"/comparisons/{comparison.pk}/").content.decode()
    )


def test_leaderboard_says_each_run_skips_by_its_own_max_seq_length(team: Team, frozen: FreezeFn) -> None:
    # Given two runs of one version with different max_seq_length: one skipped a long item, one did not
    version = frozen(team.project, team.lead)
    long_item = VersionItem.objects.filter(version=version, split=Split.EVAL).values_list(
        "example_id", flat=True
    )[0]
    short = scored_run(version, {})
    short.skipped, short.n_skipped = [{"example_id": long_item, "reason": "longer than max_seq_length=8"}], 1
    short.save()
    scored_run(version, {})

    # When the leaderboard is shown
    board = logged_in(team.annotator).get(f"/versions/{version.pk}/evaluation/").content.decode()

    # Then it does not claim every run skipped the item; it says the skip is per run
    assert "skipped by every run" not in board
    assert "skipped by that run" in board and "can skip different items" in board
    assert board.count("(1 skipped: longer than max_seq_length)") == 1


def test_leaderboard_names_a_registered_model_not_its_path(team: Team, frozen: FreezeFn) -> None:
    version = frozen(team.project, team.lead)
    run = scored_run(version, {})
    run.base_model = "/srv/finch/models/base/smollm2-135m-instruct"
    run.registered_model = base_model_row("smollm2-135m-instruct", run.base_model)
    run.save()

    board = logged_in(team.annotator).get(f"/versions/{version.pk}/evaluation/").content.decode()

    assert '<code title="/srv/finch/models/base/smollm2-135m-instruct">smollm2-135m-instruct</code>' in board


def test_send_back_for_review_and_flag_from_a_comparison(team: Team, comparison: Comparison) -> None:
    regression = comparison.candidate.predictions.get(raw="wrong")
    url = f"/comparisons/{comparison.pk}/feedback/"
    assert logged_in(team.annotator).post(url, {"example": regression.example_id}).status_code == 403

    logged_in(team.reviewer).post(url, {"example": regression.example_id, "action": "review"})
    example = Example.objects.get(pk=regression.example_id)
    assert example.status == ExampleStatus.SUBMITTED
    assert example.last_change == f"sent back by comparison {comparison.pk}"

    logged_in(team.reviewer).post(url, {"example": regression.example_id, "action": "flag"})
    flag = Flag.objects.get()
    assert list(flag.examples.values_list("pk", flat=True)) == [regression.example_id]
    assert "tuned answered 'wrong'" in flag.note
