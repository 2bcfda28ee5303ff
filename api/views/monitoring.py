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
    DriftReportOutput,
    LiveSampleInput,
    SamplesAccepted,
)
from api.views.base import FinchAPIView
from curation import filters as query
from curation.errors import InvalidInput
from curation.models import Role
from evaluation import selectors
from evaluation.monitoring import deployment_create, drift_report, ood_to_annotation, samples_add
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
                "hours", OpenApiTypes.NUMBER, description="window length; default the deployment's"
            )
        ],
        responses=DriftReportOutput,
    )
    def get(self, request: Request, deployment_id: int) -> Response:
        """The drift report of the window ending now (computed, and kept in the history)."""
        deployment = selectors.deployment_get(user=request.user, deployment_id=deployment_id)
        report = drift_report(deployment=deployment, hours=_hours(request.query_params.get("hours")))
        return Response(DriftReportOutput(report).data)


class DeploymentReportsView(FinchAPIView):
    @extend_schema(responses=DriftReportOutput(many=True))
    def get(self, request: Request, deployment_id: int) -> Response:
        """The deployment's report history, newest first."""
        deployment = selectors.deployment_get(user=request.user, deployment_id=deployment_id)
        return self.paginated(request, deployment.reports.order_by("-id"), DriftReportOutput)


class ReportToAnnotationView(FinchAPIView):
    @extend_schema(request=None, responses=AnnotationCreated)
    def post(self, request: Request, report_id: int) -> Response:
        """The report's out-of-distribution inputs as draft examples for annotators (reviewer)."""
        report = selectors.report_get(user=request.user, report_id=report_id, min_role=Role.REVIEWER)
        return Response({"created": ood_to_annotation(report=report, user=self.user)})


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
