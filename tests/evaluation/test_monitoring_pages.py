"""The monitoring pages: deployments, a deployment's drift over time, and its buttons."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from curation.models import LabelingItem
from evaluation.models import Deployment, DriftReport, DriftReportJob
from evaluation.monitoring import deployment_create, drift_report, samples_add
from tests.conftest import Team
from tests.curation.ui_support import logged_in
from tests.evaluation.test_monitoring import banking_rows, deployed, restaurant_texts, trained_run
from tests.training.support import FreezeFn

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_in_tmp")]


@pytest.fixture
def deployment(team: Team) -> Deployment:
    deployment = deployed(team.project, team.lead, banking_rows()[:200])
    samples_add(
        deployment=deployment, rows=[{"input": text, "output": "x"} for text in restaurant_texts()[:80]]
    )
    return deployment


def test_pages_show_the_drift_and_alerts(team: Team, deployment: Deployment) -> None:
    drift_report(deployment=deployment)
    listing = logged_in(team.annotator).get(f"/projects/{team.project.pk}/deployments/").content.decode()
    assert "prod" in listing and "alert" in listing and "Create deployment" not in listing
    assert (
        "Create deployment"
        in logged_in(team.lead).get(f"/projects/{team.project.pk}/deployments/").content.decode()
    )

    page = logged_in(team.reviewer).get(f"/deployments/{deployment.pk}/").content.decode()
    assert "out of distribution" in page and 'class="series"' in page and 'class="alert"' in page
    assert "inputs to the labeling queue" in page
    assert (
        "inputs to the labeling queue"
        not in logged_in(team.annotator).get(f"/deployments/{deployment.pk}/").content.decode()
    )
    assert logged_in(team.outsider).get(f"/deployments/{deployment.pk}/").status_code == 404
    # No comparison said to ship this adapter: the page says it went out unmeasured
    assert 'data-testid="unshipped"' in page and "without a measured improvement" in page


def test_report_now_is_a_leads_job(team: Team, deployment: Deployment) -> None:
    # An annotator may not start one (it used to compute inside the request), nor sees the button
    assert logged_in(team.annotator).post(f"/deployments/{deployment.pk}/report/").status_code == 403
    assert (
        "Compute a report now"
        not in logged_in(team.annotator).get(f"/deployments/{deployment.pk}/").content.decode()
    )
    assert not DriftReportJob.objects.exists()

    # A lead's click queues a job; the page shows its progress until it ends
    assert logged_in(team.lead).post(f"/deployments/{deployment.pk}/report/").status_code == 302
    job = DriftReportJob.objects.get()
    assert job.status == "queued" and not DriftReport.objects.exists()
    page = logged_in(team.reviewer).get(f"/deployments/{deployment.pk}/").content.decode()
    assert 'id="report-job"' in page and f"/api/drift-jobs/{job.pk}/" in page

    # A job that failed says why, until a newer report comes
    DriftReportJob.objects.filter(pk=job.pk).update(status="failed", error="No heartbeat from its worker")
    page = logged_in(team.reviewer).get(f"/deployments/{deployment.pk}/").content.decode()
    assert 'id="report-job-error"' in page and "No heartbeat from its worker" in page
    assert 'id="report-job"' not in page


def test_report_now_and_send_to_the_labeling_queue(
    team: Team, deployment: Deployment, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        assert logged_in(team.lead).post(f"/deployments/{deployment.pk}/report/").status_code == 302
    report = DriftReport.objects.get()
    assert DriftReportJob.objects.get().report == report
    page = logged_in(team.reviewer).get(f"/deployments/{deployment.pk}/").content.decode()
    assert 'id="report-job"' not in page and 'id="latest"' in page
    assert report.alert
    assert logged_in(team.annotator).post(f"/drift-reports/{report.pk}/to-annotation/").status_code == 403
    sent = logged_in(team.reviewer).post(f"/drift-reports/{report.pk}/to-annotation/", follow=True)
    queued = LabelingItem.objects.filter(source="deployment:prod")
    assert queued.count() == len(report.ood_sample_ids) > 0
    assert f"{queued.count()} out-of-distribution inputs joined the labeling queue" in sent.content.decode()


def test_a_lead_creates_a_deployment_from_the_page(team: Team, deployment: Deployment) -> None:
    run = deployment.training_run
    response = logged_in(team.lead).post(
        f"/projects/{team.project.pk}/deployments/", {"training_run": run.pk, "name": "staging"}
    )
    assert response.status_code == 302
    assert Deployment.objects.filter(name="staging", training_run=run).exists()
    again = logged_in(team.lead).post(
        f"/projects/{team.project.pk}/deployments/", {"training_run": run.pk, "name": "staging"}, follow=True
    )
    # The run is named as the pages name it ("run 1"), with the id the API takes
    assert f"Training run 1 (id {run.pk}) already has a deployment named" in again.content.decode()


@pytest.fixture
def quiet_deployment(team: Team, frozen: FreezeFn) -> Deployment:
    """A deployment with no embedding work behind it: its reports are written by the test."""
    return deployment_create(
        training_run=trained_run(frozen(team.project, team.lead)), user=None, name="prod"
    )


def report_of(deployment: Deployment, **figures: Any) -> DriftReport:
    now = timezone.now()
    return DriftReport.objects.create(
        deployment=deployment,
        window_start=now - timedelta(hours=24),
        window_end=now,
        enough_data=True,
        **figures,
    )


def test_list_and_page_give_the_same_total_and_label_the_window_count(
    team: Team, quiet_deployment: Deployment
) -> None:
    # Given three samples of today and one dated 1900, outside any report's window
    rows: list[dict[str, Any]] = [{"input": f"question {i}", "output": "x"} for i in range(3)]
    samples_add(deployment=quiet_deployment, rows=[*rows, {"input": "old", "at": "1900-01-01T00:00:00Z"}])
    report_of(quiet_deployment, n=3, alert=False)

    # When the list and the deployment's page are shown
    listing = logged_in(team.annotator).get(f"/projects/{team.project.pk}/deployments/").content.decode()
    page = logged_in(team.annotator).get(f"/deployments/{quiet_deployment.pk}/").content.decode()

    # Then both give the same total of samples received, and the window's count is labelled as such
    assert "<th>Samples received</th><th>Samples in last report's window</th>" in listing
    assert "<td>4</td>\n      <td>3</td>" in listing
    assert "4 samples received in all" in page and "3 samples in this window" in page


def test_the_drift_chart_marks_red_only_the_points_over_their_own_limit(
    team: Team, quiet_deployment: Deployment
) -> None:
    # Given a report alerting on out-of-distribution inputs alone (its drift AUC under the limit),
    # then one alerting on drift alone
    report_of(quiet_deployment, n=60, ood_rate=0.5, input_drift=0.5, input_drift_baseline=0.6, alert=True)
    report_of(quiet_deployment, n=60, ood_rate=0.1, input_drift=0.9, input_drift_baseline=0.6, alert=True)

    # When the deployment's page draws its charts
    page = logged_in(team.annotator).get(f"/deployments/{quiet_deployment.pk}/").content.decode()
    ood_chart, auc_chart = page.split('<figure class="drift-chart">')[1:]

    # Then each chart marks only its own figure's breach (y = 130 - 100 * value on the 160 px chart)
    assert ood_chart.count('<circle class="alert"') == 1 and 'cy="80.0"' in ood_chart
    assert auc_chart.count('<circle class="alert"') == 1 and 'cy="40.0"' in auc_chart
