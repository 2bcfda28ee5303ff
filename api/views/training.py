from __future__ import annotations

from django.http import HttpResponse
from django.http.response import HttpResponseBase
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from api.downloads import stored_file_response
from api.serializers.training import (
    MergedModelOutput,
    TrainingRunInput,
    TrainingRunOutput,
    TrainingRunSummaryOutput,
    merged_output,
)
from api.views.base import FinchAPIView
from curation import selectors as curation_selectors
from curation.errors import Conflict
from curation.models import JobStatus, Role
from curation.roles import require_role
from training import selectors
from training.adapter_archive import adapter_zip
from training.merged import merge_request, merged_file
from training.services import run_cancel, run_create

LIST_FILTERS = [
    *(
        OpenApiParameter(name, OpenApiTypes.INT, description=f"only runs of this {name} (its id)")
        for name in ("project", "version")
    ),
    OpenApiParameter(
        "status", OpenApiTypes.STR, enum=JobStatus.values, description="only runs in this status"
    ),
]


class TrainingRunsView(FinchAPIView):
    @extend_schema(parameters=LIST_FILTERS, responses=TrainingRunSummaryOutput(many=True))
    def get(self, request: Request) -> Response:
        """Training runs of the caller's projects, newest first."""
        filters = {name: request.query_params.get(name, "") for name in ("project", "version", "status")}
        runs = selectors.run_list(user=request.user, filters=filters)
        return self.paginated(request, runs, TrainingRunSummaryOutput)

    @extend_schema(request=TrainingRunInput, responses={202: TrainingRunOutput})
    def post(self, request: Request) -> Response:
        """Launch a LoRA run on a frozen version (lead); a GPU worker picks it up."""
        fields = self.valid_input(TrainingRunInput)
        version = curation_selectors.version_get(user=request.user, version_id=fields.pop("version"))
        require_role(request.user, version.project, Role.LEAD)
        run = run_create(version=version, user=self.user, **fields)
        return Response(TrainingRunOutput(run).data, status=status.HTTP_202_ACCEPTED)


class TrainingRunDetailView(FinchAPIView):
    @extend_schema(responses=TrainingRunOutput)
    def get(self, request: Request, run_id: int) -> Response:
        """A run with its settings, reproducibility record, progress, metrics and adapter."""
        return Response(TrainingRunOutput(selectors.run_get(user=request.user, run_id=run_id)).data)


class TrainingRunCancelView(FinchAPIView):
    @extend_schema(request=None, responses=TrainingRunOutput)
    def post(self, request: Request, run_id: int) -> Response:
        """Cancel (lead): a queued run at once, a running one before its next step; 409 if finished."""
        run = selectors.run_get(user=request.user, run_id=run_id, min_role=Role.LEAD)
        run_cancel(run=run, user=self.user)
        return Response(TrainingRunOutput(selectors.run_get(user=request.user, run_id=run_id)).data)


class TrainingRunAdapterView(FinchAPIView):
    conflicts_on_read = True  # no adapter before the run succeeded

    @extend_schema(responses={(200, "application/zip"): OpenApiTypes.BINARY})
    def get(self, request: Request, run_id: int) -> HttpResponse:
        """The run's LoRA adapter as a zip (adapter_config.json, adapter_model.safetensors and a
        README naming its base model, run and settings), for `PeftModel.from_pretrained` on any host."""
        run = selectors.run_get(user=request.user, run_id=run_id)
        if not run.adapter_sha256:
            raise Conflict(f"{selectors.run_label(run).capitalize()} is {run.status} and has no adapter.")
        response = HttpResponse(adapter_zip(run), content_type="application/zip")
        response["Content-Disposition"] = f'attachment; filename="finch-run-{run.pk}-adapter.zip"'
        response["X-Adapter-SHA256"] = run.adapter_sha256
        return response


class TrainingRunMergeView(FinchAPIView):
    @extend_schema(request=None, responses={202: MergedModelOutput, 200: MergedModelOutput})
    def post(self, request: Request, run_id: int) -> Response:
        """Merge the run's adapter into its base model (lead), on a GPU worker: 202 with the queued
        record (then follow the run's `merged`), 200 when the merged model is there already, 409
        when the run did not succeed or a merge of it is running."""
        run = selectors.run_get(user=request.user, run_id=run_id, min_role=Role.LEAD)
        record, queued = merge_request(run=run, user=self.user)
        return Response(
            merged_output(run, record), status=status.HTTP_202_ACCEPTED if queued else status.HTTP_200_OK
        )


class TrainingRunMergedFileView(FinchAPIView):
    conflicts_on_read = True  # no file before the merge succeeded

    @extend_schema(responses={(200, "application/octet-stream"): OpenApiTypes.BINARY})
    def get(self, request: Request, run_id: int, name: str) -> HttpResponseBase:
        """One file of the run's merged model (its names and sha256 are in the run's `merged`),
        with its Content-Length; 409 before the merge succeeded, 404 for another name."""
        run = selectors.run_get(user=request.user, run_id=run_id)
        content_type = "application/json" if name.endswith(".json") else "application/octet-stream"
        return stored_file_response([merged_file(run, name)], filename=name, content_type=content_type)
