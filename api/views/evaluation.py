from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from api.serializers.evaluation import (
    ComparisonInput,
    ComparisonOutput,
    EvalPredictionOutput,
    EvalRunInput,
    EvalRunOutput,
)
from api.views.base import FinchAPIView
from curation import filters as query
from curation import selectors as curation_selectors
from curation.models import Role
from curation.roles import require_role
from evaluation import selectors
from evaluation.services import comparison_create, eval_run_cancel, eval_run_create
from training import selectors as training_selectors

LIST_FILTERS = [
    OpenApiParameter(name, OpenApiTypes.INT, description=f"only runs of this {name} (its id)")
    for name in ("project", "version")
]


class EvalRunsView(FinchAPIView):
    @extend_schema(parameters=LIST_FILTERS, responses=EvalRunOutput(many=True))
    def get(self, request: Request) -> Response:
        """Eval runs of the caller's projects, newest first."""
        filters = {name: request.query_params.get(name, "") for name in ("project", "version")}
        return self.paginated(
            request, selectors.eval_run_list(user=request.user, filters=filters), EvalRunOutput
        )

    @extend_schema(request=EvalRunInput, responses={202: EvalRunOutput})
    def post(self, request: Request) -> Response:
        """Evaluate on a frozen version's eval split (lead): the baseline (base model, prompting
        alone) without `training_run`, else base + that run's adapter."""
        fields = self.valid_input(EvalRunInput)
        version = curation_selectors.version_get(user=request.user, version_id=fields.pop("version"))
        require_role(request.user, version.project, Role.LEAD)
        run_id = fields.pop("training_run", None)
        training_run = training_selectors.run_get(user=request.user, run_id=run_id) if run_id else None
        run = eval_run_create(version=version, user=self.user, training_run=training_run, **fields)
        return Response(EvalRunOutput(run).data, status=status.HTTP_202_ACCEPTED)


class EvalRunDetailView(FinchAPIView):
    @extend_schema(responses=EvalRunOutput)
    def get(self, request: Request, run_id: int) -> Response:
        return Response(EvalRunOutput(selectors.eval_run_get(user=request.user, run_id=run_id)).data)


class EvalRunCancelView(FinchAPIView):
    @extend_schema(request=None, responses=EvalRunOutput)
    def post(self, request: Request, run_id: int) -> Response:
        """Cancel (lead): a queued run at once, a running one between two generated tokens;
        nothing it answered is kept. 409 when it has finished."""
        run = selectors.eval_run_get(user=request.user, run_id=run_id, min_role=Role.LEAD)
        eval_run_cancel(run=run, user=self.user)
        return Response(EvalRunOutput(selectors.eval_run_get(user=request.user, run_id=run_id)).data)


class EvalRunPredictionsView(FinchAPIView):
    @extend_schema(responses=EvalPredictionOutput(many=True))
    def get(self, request: Request, run_id: int) -> Response:
        """Every eval item's answer: raw, extracted, and per-metric scores."""
        run = selectors.eval_run_get(user=request.user, run_id=run_id)
        return self.paginated(request, selectors.predictions(run=run), EvalPredictionOutput)


class ComparisonsView(FinchAPIView):
    @extend_schema(
        parameters=[
            OpenApiParameter(
                "version", OpenApiTypes.INT, description="only comparisons on this version (its id)"
            )
        ],
        responses=ComparisonOutput(many=True),
    )
    def get(self, request: Request) -> Response:
        version_id = query.object_id(request.query_params.get("version"), "version")
        comparisons = selectors.comparison_list(user=request.user, version_id=version_id)
        return self.paginated(request, comparisons, ComparisonOutput)

    @extend_schema(request=ComparisonInput, responses={201: ComparisonOutput})
    def post(self, request: Request) -> Response:
        """Compare a candidate eval run with a baseline on the same items (lead: leads decide what
        ships): paired bootstrap interval, McNemar for binary metrics, guardrails, the verdict."""
        fields = self.valid_input(ComparisonInput)
        baseline = selectors.eval_run_get(
            user=request.user, run_id=fields.pop("baseline"), min_role=Role.LEAD
        )
        candidate = selectors.eval_run_get(
            user=request.user, run_id=fields.pop("candidate"), min_role=Role.LEAD
        )
        comparison = comparison_create(
            baseline=baseline,
            candidate=candidate,
            user=self.user,
            metric=fields.pop("metric") or None,
            **fields,
        )
        return Response(ComparisonOutput(comparison).data, status=status.HTTP_201_CREATED)


class ComparisonDetailView(FinchAPIView):
    @extend_schema(responses=ComparisonOutput)
    def get(self, request: Request, comparison_id: int) -> Response:
        return Response(
            ComparisonOutput(selectors.comparison_get(user=request.user, comparison_id=comparison_id)).data
        )
