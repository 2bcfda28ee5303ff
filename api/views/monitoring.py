from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from api.serializers.monitoring import (
    AnnotationCreated,
    DeploymentInput,
    DeploymentOutput,
    DriftReportJobInput,
    DriftReportJobOutput,
    DriftReportOutput,
    LatestDriftOutput,
    LiveSampleInput,
    SamplesAccepted,
    ToAnnotationInput,
)
from api.views.base import FinchAPIView
from curation import filters as query
from curation.errors import InvalidInput
from curation.models import Role
from evaluation import selectors
from evaluation.drift_jobs import drift_report_job_create, latest_report, pending_jobs
from evaluation.models import Deployment, DriftReport
from evaluation.monitoring import deployment_create, ood_to_annotation, samples_add
from training import selectors as training_selectors


class DeploymentsView(FinchAPIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("project", OpenApiTypes.INT, description="only this project's (its id)")
        ],
        responses=DeploymentOutput(many=True),
    )
    def get(self, request: Request) -> Response:
        project_id = query.object_id(request.query_params.get("project"), "project")
        deployments = selectors.deployment_list(user=request.user, project_id=project_id)
        return self.paginated(request, deployments, DeploymentOutput)

    @extend_schema(request=DeploymentInput, responses={201: DeploymentOutput})
    def post(self, request: Request) -> Response:
        """Watch a training run's adapter in production (lead)."""
        fields = self.valid_input(DeploymentInput)
        run = training_selectors.run_get(
            user=request.user, run_id=fields.pop("training_run"), min_role=Role.LEAD
        )
        deployment = deployment_create(training_run=run, user=self.user, **fields)
        return Response(DeploymentOutput(deployment).data, status=status.HTTP_201_CREATED)


class DeploymentDetailView(FinchAPIView):
    @extend_schema(responses=DeploymentOutput)
    def get(self, request: Request, deployment_id: int) -> Response:
        return Response(
            DeploymentOutput(selectors.deployment_get(user=request.user, deployment_id=deployment_id)).data
        )


class DeploymentSamplesView(FinchAPIView):
    @extend_schema(request={"application/json": LiveSampleInput(many=True)}, responses={202: SamplesAccepted})
    def post(self, request: Request, deployment_id: int) -> Response:
        """Live samples `[{"input", "output", "at"?}, ...]`, up to 10,000 a request (lead): all
        stored, or none with a 400 naming the bad row."""
        deployment = selectors.deployment_get(
            user=request.user, deployment_id=deployment_id, min_role=Role.LEAD
        )
        accepted = samples_add(deployment=deployment, rows=request.data)
        return Response({"accepted": accepted}, status=status.HTTP_202_ACCEPTED)


class DeploymentDriftView(FinchAPIView):
    @extend_schema(
        parameters=[
            OpenApiParameter(
                "hours", OpenApiTypes.NUMBER, description="only reports of a window this many hours long"
            )
        ],
        responses=LatestDriftOutput,
    )
    def get(self, request: Request, deployment_id: int) -> Response:
        """The latest stored drift report (the hourly one, or a lead's): read, never computed here."""
        deployment = selectors.deployment_get(user=request.user, deployment_id=deployment_id)
        hours = _hours(request.query_params.get("hours"))
        report = latest_report(deployment=deployment, hours=hours) or _no_report(deployment, hours)
        context = {"pending_job": pending_jobs(deployment).first()}
        return Response(LatestDriftOutput(report, context=context).data)

    @extend_schema(request=DriftReportJobInput, responses={202: DriftReportJobOutput})
    def post(self, request: Request, deployment_id: int) -> Response:
        """Compute a report of the window ending now, on a worker (lead): 202 with the job;
        while one is queued or running, that job."""
        deployment = selectors.deployment_get(
            user=request.user, deployment_id=deployment_id, min_role=Role.LEAD
        )
        fields = self.valid_input(DriftReportJobInput)
        job = drift_report_job_create(deployment=deployment, user=self.user, hours=fields["hours"])
        return Response(DriftReportJobOutput(job).data, status=status.HTTP_202_ACCEPTED)


class DriftReportJobDetailView(FinchAPIView):
    @extend_schema(responses=DriftReportJobOutput)
    def get(self, request: Request, job_id: int) -> Response:
        """A drift report job: status, progress, error, and once done its `report`."""
        return Response(
            DriftReportJobOutput(selectors.drift_report_job_get(user=request.user, job_id=job_id)).data
        )


class DeploymentReportsView(FinchAPIView):
    @extend_schema(responses=DriftReportOutput(many=True))
    def get(self, request: Request, deployment_id: int) -> Response:
        """The deployment's report history, newest first."""
        deployment = selectors.deployment_get(user=request.user, deployment_id=deployment_id)
        return self.paginated(request, deployment.reports.order_by("-id"), DriftReportOutput)


class ReportToAnnotationView(FinchAPIView):
    @extend_schema(request=ToAnnotationInput, responses=AnnotationCreated)
    def post(self, request: Request, report_id: int) -> Response:
        """Send the report's out-of-distribution inputs to the project's labeling queue (reviewer);
        `with_suggestions` (lead) also has the deployed adapter suggest outputs for them."""
        report = selectors.report_get(user=request.user, report_id=report_id, min_role=Role.REVIEWER)
        sent = ood_to_annotation(report=report, user=self.user, **self.valid_input(ToAnnotationInput))
        run = sent.suggestion_run
        return Response(
            {
                "created": len(sent.created),
                "already_queued": sent.already_queued,
                "suggestion_run": run.pk if run is not None else None,
            }
        )


def _no_report(deployment: Deployment, hours: float | None) -> DriftReport:
    """An unsaved, empty report for LatestDriftOutput: nothing measured, and how to get one."""
    window = f"a {hours:g}-hour window" if hours is not None else "this deployment"
    how = (
        f"No drift report of {window} yet: reports come hourly once samples arrive, or a lead asks "
        f"for one with POST /api/deployments/{deployment.pk}/drift/."
    )
    return DriftReport(deployment=deployment, n=0, enough_data=False, alert=False, reasons=[how])


def _hours(value: str | None) -> float | None:
    if value is None or value == "":
        return None
    try:
        hours = float(value)
    except ValueError:
        hours = -1.0
    if not 0 < hours <= 24 * 365:
        raise InvalidInput(
            f"hours must be a number of hours above 0, up to a year; got {value!r}.", field="hours"
        )
    return hours
