"""Evaluation in the web UI: a version's leaderboard (launch runs, compare two), and a
comparison's page with its verdict, its interval, and the items that flipped, from which
examples go back to review or get a flag."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from curation import selectors as curation_selectors
from curation.errors import ApplicationError, InvalidInput
from curation.models import JobStatus, Role
from curation.numbering import numbered
from curation.roles import require_role
from curation.views.common import abilities, django_errors, int_param, signed_in
from evaluation import selectors
from evaluation.models import Comparison
from evaluation.services import (
    comparison_create,
    eval_run_cancel,
    eval_run_create,
    flag_from_comparison,
    flipped,
    send_back_for_review,
)
from training import selectors as training_selectors
from training.base_models import offered_models
from training.models import TrainingRun


@login_required
@django_errors
def leaderboard(request: HttpRequest, version_id: int) -> HttpResponse:
    version = curation_selectors.version_get(user=request.user, version_id=version_id)
    if request.method == "POST":
        require_role(request.user, version.project, Role.LEAD)
        try:
            return _act(request, version)
        except ApplicationError as exc:
            messages.error(request, exc.message)
    runs = list(selectors.eval_run_list(user=request.user, filters={"version": str(version.pk)}))
    finished = [run for run in runs if run.status == JobStatus.SUCCEEDED]
    primary = runs[0].primary_metric if runs else ""
    context = {
        **abilities(request, version.project),
        "version": version,
        "runs": sorted(runs, key=lambda run: -(run.metrics.get(primary, -1.0))),
        "metric_names": sorted({name for run in finished for name in run.metrics}),
        "primary": primary,
        "finished": finished,
        "comparisons": selectors.comparison_list(user=request.user, version_id=version.pk)[:20],
        "training_runs": numbered(TrainingRun.objects.filter(version=version), "version__project")
        .filter(status=JobStatus.SUCCEEDED)
        .order_by("-id"),
        "base_models": offered_models(),
    }
    return render(request, "evaluation/leaderboard.html", context)


def _act(request: HttpRequest, version: Any) -> HttpResponse:
    user = signed_in(request)
    if request.POST.get("action") == "compare":
        # The runs may come from any project the user is in: comparing needs the lead role there too.
        comparison = comparison_create(
            baseline=selectors.eval_run_get(
                user=user, run_id=request.POST.get("baseline"), min_role=Role.LEAD
            ),
            candidate=selectors.eval_run_get(
                user=user, run_id=request.POST.get("candidate"), min_role=Role.LEAD
            ),
            user=user,
        )
        return redirect("comparison", comparison_id=comparison.pk)
    if request.POST.get("action") == "cancel":
        return _cancel(request, version)
    training_id = int_param(request.POST.get("training_run"), "training_run")
    training_run = training_selectors.run_get(user=user, run_id=training_id) if training_id else None
    run = eval_run_create(
        version=version,
        user=user,
        base_model=request.POST.get("base_model", ""),
        training_run=training_run,
        few_shot=int_param(request.POST.get("few_shot"), "few_shot") or 0,
    )
    number = selectors.eval_run_get(user=request.user, run_id=run.pk).number  # type: ignore[attr-defined]
    messages.success(request, f"Eval run {number} ({run.kind}) launched.")
    return redirect("leaderboard", version_id=version.pk)


def _cancel(request: HttpRequest, version: Any) -> HttpResponse:
    found = selectors.eval_run_get(user=request.user, run_id=request.POST.get("run"), min_role=Role.LEAD)
    number = found.number  # type: ignore[attr-defined]  # per project, as the pages show it
    if found.version_id != version.pk:
        raise InvalidInput(f"Eval run {number} is not on version {version.number}.", field="run")
    run = eval_run_cancel(run=found, user=signed_in(request))
    state = run.status if run.is_finished else "stopping"
    messages.success(request, f"Eval run {number} ({run.kind}) is {state}.")
    return redirect("leaderboard", version_id=version.pk)


@login_required
@django_errors
def comparison_detail(request: HttpRequest, comparison_id: int) -> HttpResponse:
    comparison = selectors.comparison_get(user=request.user, comparison_id=comparison_id)
    context = {
        **abilities(request, comparison.baseline.version.project),
        "comparison": comparison,
        "version": comparison.baseline.version,
        "chart": interval_chart(comparison),
        "flipped": flipped(comparison),
    }
    return render(request, "evaluation/comparison.html", context)


@require_POST
@login_required
@django_errors
def comparison_feedback(request: HttpRequest, comparison_id: int) -> HttpResponse:
    """Send an item's example back to review, or flag it (reviewers and leads)."""
    comparison = selectors.comparison_get(user=request.user, comparison_id=comparison_id)
    require_role(request.user, comparison.baseline.version.project, Role.REVIEWER)
    example_id = int_param(request.POST.get("example"), "example") or 0
    try:
        if request.POST.get("action") == "flag":
            flag_from_comparison(comparison=comparison, user=signed_in(request), example_id=example_id)
            messages.success(request, f"Example {example_id} is flagged for review.")
        else:
            sent = send_back_for_review(
                comparison=comparison, user=signed_in(request), example_ids=[example_id]
            )
            messages.success(
                request,
                f"Example {example_id} is back in the review queue."
                if sent
                else f"Example {example_id} is not approved now; nothing to send back.",
            )
    except ApplicationError as exc:
        messages.error(request, exc.message)
    return redirect("comparison", comparison_id=comparison.pk)


def interval_chart(comparison: Comparison, width: int = 560, pad: int = 30) -> dict[str, Any]:
    """Positions for the SVG of the gain's 95% interval against zero and the minimum gain."""
    points = [comparison.ci_low, comparison.ci_high, comparison.delta, 0.0, comparison.min_gain]
    low, high = min(points), max(points)
    span = (high - low) or 1.0
    low, high = low - 0.1 * span, high + 0.1 * span

    def x(value: float) -> float:
        return round(pad + (value - low) / (high - low) * (width - 2 * pad), 1)

    return {
        "width": width,
        "low": x(comparison.ci_low),
        "high": x(comparison.ci_high),
        "delta": x(comparison.delta),
        "zero": x(0.0),
        "min_gain": x(comparison.min_gain),
        "shows_min_gain": comparison.min_gain != 0.0,
    }
