from __future__ import annotations

from django.http import HttpResponse, StreamingHttpResponse
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from api.schema import ErrorOutput
from api.serializers.imports import ImportInput, ImportJobOutput
from api.views.base import FileFormatNegotiation, FinchAPIView
from api.views.examples import EXAMPLE_FILTERS
from curation import filters as query
from curation import selectors
from curation.services.exports import check_streamable, examples_export
from curation.services.imports import import_errors_csv, import_job_create

CONTENT_TYPES = {"jsonl": "application/x-ndjson; charset=utf-8", "csv": "text/csv; charset=utf-8"}


class ProjectImportsView(FinchAPIView):
    parser_classes = [MultiPartParser]

    @extend_schema(responses=ImportJobOutput(many=True))
    def get(self, request: Request, project_id: int) -> Response:
        project = selectors.project_get(user=request.user, project_id=project_id)
        return self.paginated(request, selectors.import_job_list(project=project), ImportJobOutput)

    @extend_schema(request={"multipart/form-data": ImportInput}, responses={202: ImportJobOutput})
    def post(self, request: Request, project_id: int) -> Response:
        """Upload a file to import (JSONL, CSV, JSON, OpenAI chat, Alpaca); answers the job."""
        project = selectors.project_get(user=request.user, project_id=project_id)
        fields = self.valid_input(ImportInput)
        upload = fields["file"]
        job = import_job_create(
            project=project,
            user=self.user,
            upload=upload,
            filename=upload.name or "upload",
            file_format=fields["format"],
            input_field=fields["input_field"],
            output_field=fields["output_field"],
            status=fields["status"],
        )
        return Response(ImportJobOutput(job).data, status=status.HTTP_202_ACCEPTED)


class ImportJobDetailView(FinchAPIView):
    @extend_schema(responses=ImportJobOutput)
    def get(self, request: Request, job_id: int) -> Response:
        return Response(ImportJobOutput(selectors.import_job_get(user=request.user, job_id=job_id)).data)


class ImportJobErrorsView(FinchAPIView):
    @extend_schema(responses={(200, "text/csv"): OpenApiTypes.STR})
    def get(self, request: Request, job_id: int) -> HttpResponse:
        """The job's row errors as CSV (line, error)."""
        job = selectors.import_job_get(user=request.user, job_id=job_id)
        response = HttpResponse(import_errors_csv(job), content_type=CONTENT_TYPES["csv"])
        response["Content-Disposition"] = f'attachment; filename="import-{job.pk}-errors.csv"'
        return response


class ProjectExportView(FinchAPIView):
    content_negotiation_class = FileFormatNegotiation

    @extend_schema(
        parameters=[
            OpenApiParameter("format", str, enum=["jsonl", "csv"]),
            OpenApiParameter(
                "annotations",
                bool,
                description="Rows from the labeling queue also list every annotation of their item.",
            ),
            *EXAMPLE_FILTERS[:-1],
        ],
        responses={
            (200, "application/x-ndjson"): OpenApiTypes.STR,
            (200, "text/csv"): OpenApiTypes.STR,
            (413, "application/json"): ErrorOutput,
        },
    )
    def get(self, request: Request, project_id: int) -> StreamingHttpResponse:
        """Stream the project's examples (filtered like the list) as JSONL or CSV, up to
        FINCH_EXPORT_SYNC_MAX_ROWS rows; above that 413, naming the export job to use instead."""
        project = selectors.project_get(user=request.user, project_id=project_id)
        filters = request.query_params.dict()
        query.known_only(filters, (*selectors.EXAMPLE_FILTERS, "format", "annotations"))
        file_format = filters.pop("format", "jsonl")
        annotations = bool(query.boolean(filters.pop("annotations", None), "annotations"))
        examples = selectors.example_list(project=project, filters=filters)
        check_streamable(examples=examples, job_route=reverse("api-exports", args=[project.pk]))
        lines = examples_export(
            project=project, examples=examples, file_format=file_format, annotations=annotations
        )
        response = StreamingHttpResponse(lines, content_type=CONTENT_TYPES[file_format])
        response["Content-Disposition"] = (
            f'attachment; filename="project-{project.pk}-examples.{file_format}"'
        )
        return response
