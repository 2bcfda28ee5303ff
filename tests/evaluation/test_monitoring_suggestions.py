"""Out-of-distribution inputs sent to annotation can carry the deployed adapter's own
suggestions: a suggestion run of that adapter on the report's waiting inputs, so annotators
correct exactly what the live model did."""

from __future__ import annotations

from typing import Any

import pytest
from django.utils import timezone

from curation.errors import InvalidInput, PermissionDenied
from curation.models import ExampleStatus, JobStatus, LabelingItem, Project, Suggestion
from curation.services.labeling import items_enqueue
from curation.services.versions import version_create
from evaluation.models import Deployment, DriftReport, LiveSample, SuggestionRun, SuggestionTarget
from evaluation.monitoring import deployment_create, ood_to_annotation, samples_add
from evaluation.suggestions import suggestion_run_execute
from tests.api.support import error_fields
from tests.conftest import Team
from tests.curation.ui_support import logged_in
from tests.evaluation.test_suggestion_run_numbers import shipped
from tests.factories import ExampleFactory
from tests.training.support import FAST, LABELS, FreezeFn
from training.models import TrainingRun

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_in_tmp")]

OUTSIDE = ["Book me a table for four at eight", "Do you have vegan starters", "Is the terrace open tonight"]


def deployed(project: Project, lead: Any, *, cleared: bool = True, **run: Any) -> Deployment:
    """A deployment of a succeeded run; `cleared`: a comparison said ship."""
    project.labels = LABELS
    project.save()
    for index in range(20):
        ExampleFactory.create(
            project=project,
            input=f"Where is my card (ref {index})?",
            output=LABELS[0],
            status=ExampleStatus.APPROVED,
        )
    version = version_create(project=project, user=lead, eval_fraction=0.2)
    fields = {"adapter_path": "training/run-0/adapter", "adapter_sha256": "0" * 64, **run}
    training_run = TrainingRun.objects.create(
        version=version,
        base_model="/models/base",
        version_sha256=version.sha256,
        status=JobStatus.SUCCEEDED,
        **fields,
    )
    if cleared:
        shipped(training_run)
    return deployment_create(training_run=training_run, user=None, name="prod")


def report_of(deployment: Deployment, texts: list[str]) -> DriftReport:
    """A report whose out-of-distribution samples are these texts (as drift_report keeps them)."""
    samples_add(deployment=deployment, rows=[{"input": text, "output": LABELS[0]} for text in texts])
    ids = list(LiveSample.objects.filter(deployment=deployment).order_by("id").values_list("pk", flat=True))
    now = timezone.now()
    return DriftReport.objects.create(
        deployment=deployment,
        window_start=now,
        window_end=now,
        n=len(ids),
        enough_data=True,
        ood_sample_ids=ids,
    )


@pytest.fixture
def report(team: Team) -> DriftReport:
    return report_of(deployed(team.project, team.lead), OUTSIDE)


def test_the_deployed_adapter_suggests_for_the_new_and_the_already_queued_inputs(
    team: Team, report: DriftReport, django_capture_on_commit_callbacks: Any
) -> None:
    (earlier,) = items_enqueue(project=team.project, user=None, inputs=[{"input": OUTSIDE[1]}]).created

    with django_capture_on_commit_callbacks() as queued_tasks:
        sent = ood_to_annotation(report=report, user=team.lead, with_suggestions=True)

    assert len(sent.created) == 2 and sent.already_queued == 1
    run = sent.suggestion_run
    assert run is not None and len(queued_tasks) == 1  # the run goes to a worker after commit
    deployment = report.deployment
    assert (run.deployment, run.training_run, run.adapter_sha256) == (
        deployment,
        deployment.training_run,
        deployment.training_run.adapter_sha256,
    )
    assert run.target == SuggestionTarget.QUEUE and run.status == JobStatus.QUEUED
    assert run.target_ids == sorted([earlier.pk, *(item.pk for item in sent.created)])

    # Sent again: nothing new to queue, and the adapter suggests for the same waiting inputs.
    with django_capture_on_commit_callbacks():
        again = ood_to_annotation(report=report, user=team.lead, with_suggestions=True)
    assert again.created == [] and again.suggestion_run is not None
    assert again.suggestion_run.target_ids == run.target_ids


def test_without_the_option_no_run_starts_and_suggesting_is_a_leads_call(
    team: Team, report: DriftReport
) -> None:
    with pytest.raises(PermissionDenied):
        ood_to_annotation(report=report, user=team.reviewer, with_suggestions=True)
    assert not LabelingItem.objects.exists()
    sent = ood_to_annotation(report=report, user=team.reviewer)
    assert len(sent.created) == 3 and sent.suggestion_run is None
    assert not SuggestionRun.objects.exists()


def test_a_deployment_without_an_adapter_is_refused_and_nothing_is_queued(
    team: Team, report: DriftReport
) -> None:
    TrainingRun.objects.filter(pk=report.deployment.training_run_id).update(adapter_sha256="")
    report.refresh_from_db()
    with pytest.raises(InvalidInput, match="has no adapter to suggest with") as refused:
        ood_to_annotation(report=DriftReport.objects.get(pk=report.pk), user=team.lead, with_suggestions=True)
    assert refused.value.field == "with_suggestions"
    assert not LabelingItem.objects.exists() and not SuggestionRun.objects.exists()


def test_an_adapter_no_comparison_cleared_does_not_suggest_and_nothing_is_queued(team: Team) -> None:
    report = report_of(deployed(team.project, team.lead, cleared=False), OUTSIDE)
    with pytest.raises(
        InvalidInput, match="which no comparison against the baseline said to ship"
    ) as refused:
        ood_to_annotation(report=report, user=team.lead, with_suggestions=True)
    assert refused.value.field == "with_suggestions"
    assert not LabelingItem.objects.exists() and not SuggestionRun.objects.exists()


def test_sending_again_suggests_only_for_inputs_no_run_of_the_adapter_covers(
    team: Team, report: DriftReport, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks():
        first = ood_to_annotation(report=report, user=team.lead, with_suggestions=True).suggestion_run
        again = ood_to_annotation(report=report, user=team.lead, with_suggestions=True)
    assert first is not None and again.suggestion_run == first and again.suggestion_run_earlier
    assert SuggestionRun.objects.count() == 1
    # A new input in a later report gets a run of its own, for it alone
    later = report_of(report.deployment, ["Can I bring my dog"])
    with django_capture_on_commit_callbacks():
        newer = ood_to_annotation(report=later, user=team.lead, with_suggestions=True).suggestion_run
    assert newer is not None and newer != first and newer.n_targets == 1


def test_the_api_and_the_page_take_the_option(
    team: Team, report: DriftReport, client_for: Any, django_capture_on_commit_callbacks: Any
) -> None:
    url = f"/api/drift-reports/{report.pk}/to-annotation/"
    lead = client_for(team.lead)
    bad = lead.post(url, {"with_suggestions": "perhaps"}, format="json")
    assert bad.status_code == 400 and error_fields(bad) == ["with_suggestions"]
    assert client_for(team.reviewer).post(url, {"with_suggestions": True}, format="json").status_code == 403
    with django_capture_on_commit_callbacks():
        sent = lead.post(url, {"with_suggestions": True}, format="json")
    assert sent.status_code == 200, sent.content
    body = sent.json()
    assert body["created"] == 3 and body["suggestion_run"] == SuggestionRun.objects.get().pk

    page = logged_in(team.lead).get(f"/deployments/{report.deployment_id}/").content.decode()
    assert 'data-testid="ood-with-suggestions"' in page
    reviewer_page = logged_in(team.reviewer).get(f"/deployments/{report.deployment_id}/").content.decode()
    assert 'data-testid="ood-with-suggestions"' not in reviewer_page
    with django_capture_on_commit_callbacks():
        posted = logged_in(team.lead).post(
            f"/drift-reports/{report.pk}/to-annotation/", {"with_suggestions": "1"}, follow=True
        )
    first = SuggestionRun.objects.get()
    assert (
        f"Suggestion run {first.pk} of the deployed adapter covers them already." in posted.content.decode()
    )
    assert SuggestionRun.objects.count() == 1  # the same inputs sent again: no second run

    TrainingRun.objects.filter(pk=report.deployment.training_run_id).update(adapter_sha256="")
    refused = lead.post(url, {"with_suggestions": True}, format="json")
    assert refused.status_code == 400 and error_fields(refused) == ["with_suggestions"]
    shown = logged_in(team.lead).post(
        f"/drift-reports/{report.pk}/to-annotation/", {"with_suggestions": "1"}, follow=True
    )
    # The run is named as the pages name it: its number in the project, then its id
    run_id = report.deployment.training_run_id
    assert (
        f"serves training run 1 (id {run_id}), which has no adapter to suggest with" in shown.content.decode()
    )


def test_a_real_adapter_suggests_labels_for_the_queued_inputs(
    team: Team, frozen: FreezeFn, tiny_model: str, django_capture_on_commit_callbacks: Any
) -> None:
    from training.services import run_create, run_execute

    version = frozen(team.project, team.lead, count=30)
    training_run = run_create(version=version, user=None, base_model=tiny_model, hyperparameters=FAST)
    run_execute(training_run.pk)
    training_run.refresh_from_db()
    assert training_run.status == JobStatus.SUCCEEDED, training_run.error
    report = report_of(deployment_create(training_run=shipped(training_run), user=None, name="live"), OUTSIDE)

    with django_capture_on_commit_callbacks():
        sent = ood_to_annotation(report=report, user=team.lead, with_suggestions=True)
    assert sent.suggestion_run is not None
    suggestion_run_execute(sent.suggestion_run.pk)  # what the gpu worker does

    run = SuggestionRun.objects.get(pk=sent.suggestion_run.pk)
    assert run.status == JobStatus.SUCCEEDED, f"{run.error}\n{run.traceback}"
    rows = Suggestion.objects.filter(run=run)
    assert sorted(rows.values_list("item_id", flat=True)) == sorted(item.pk for item in sent.created)
    assert {row.output for row in rows} <= set(LABELS)
    assert run.prompt_card["adapter_sha256"] == training_run.adapter_sha256
