"""Export jobs: start one, follow it, download its file from storage."""

from __future__ import annotations

from django.http.response import HttpResponseBase
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from api.downloads import stored_file_response
from api.schema import ErrorOutput
from api.serializers.exports import ExportInput, ExportJobOutput, VersionExportInput
from api.views.base import FinchAPIView
from curation import selectors
from curation.errors import Conflict, Gone
from curation.models import ExportJob, JobStatus
from curation.services.export_jobs import download_filename, export_job_create, version_export_job_create

CONTENT_TYPES = {
    "jsonl": "application/x-ndjson; charset=utf-8",
    "csv": "text/csv; charset=utf-8",
    "hf_parquet": "application/zip",
}


class ProjectExportsView(FinchAPIView):
    @extend_schema(responses=ExportJobOutput(many=True))
    def get(self, request: Request, project_id: int) -> Response:
        """The project's export jobs, newest first."""
        project = selectors.project_get(user=request.user, project_id=project_id)
        jobs = selectors.job_list(ExportJob, project=project).select_related("version")
        return self.paginated(request, jobs, ExportJobOutput, {"request": request})

    @extend_schema(request=ExportInput, responses={202: ExportJobOutput})
    def post(self, request: Request, project_id: int) -> Response:
        """Export the project's examples, filtered like the list, as JSONL or CSV: answers the
        job; its `download_url` serves the whole file once it has succeeded."""
        project = selectors.project_get(user=request.user, project_id=project_id)
        fields = self.valid_input(ExportInput)
        file_format, annotations = fields.pop("format"), fields.pop("annotations")
        job = export_job_create(
            project=project, user=self.user, file_format=file_format, filters=fields, annotations=annotations
        )
        return Response(
            ExportJobOutput(job, context={"request": request}).data, status=status.HTTP_202_ACCEPTED
        )


class VersionExportsView(FinchAPIView):
    @extend_schema(request=VersionExportInput, responses={202: ExportJobOutput})
    def post(self, request: Request, version_id: int) -> Response:
        """Export a frozen version's split in a fine-tuning format as a file in storage (for
        versions too large to render within a request); answers the job."""
        version = selectors.version_get(user=request.user, version_id=version_id)
        if not version.is_frozen:
            raise Conflict(
                f"Version {version.number} is {version.status}, not frozen: there is nothing to export."
            )
        fields = self.valid_input(VersionExportInput)
        job = version_export_job_create(
            version=version,
            user=self.user,
            split=fields["split"],
            file_format=fields["format"],
            annotations=fields["annotations"],
        )
        return Response(
            ExportJobOutput(job, context={"request": request}).data, status=status.HTTP_202_ACCEPTED
        )


class ExportJobDetailView(FinchAPIView):
    @extend_schema(responses=ExportJobOutput)
    def get(self, request: Request, job_id: int) -> Response:
        """An export job: status, progress, and once whole its row count, size, sha256 and download URL."""
        job = selectors.export_job_get(user=request.user, job_id=job_id)
        return Response(ExportJobOutput(job, context={"request": request}).data)


class ExportJobDownloadView(FinchAPIView):
    conflicts_on_read = True  # no file before the export succeeded

    @extend_schema(
        responses={
            (200, "application/x-ndjson"): OpenApiTypes.BINARY,
            (200, "text/csv"): OpenApiTypes.BINARY,
            (200, "application/zip"): OpenApiTypes.BINARY,
            302: OpenApiResponse(description="To a signed storage URL (S3 storage)."),
            (410, "application/json"): ErrorOutput,
        }
    )
    def get(self, request: Request, job_id: int) -> HttpResponseBase:
        """The export's file from storage, with its Content-Length (or a redirect to a signed
        storage URL); 409 until the job has succeeded, 410 once the file has expired."""
        job = selectors.export_job_get(user=request.user, job_id=job_id)
        if job.expired_at is not None:
            raise Gone(
                f"Export {job.pk} expired at {job.expired_at:%Y-%m-%d %H:%M} UTC and its file was deleted; export again."
            )
        if job.status != JobStatus.SUCCEEDED or not job.file_name:
            raise Conflict(f"Export {job.pk} is {job.status}: there is no file to download.")
        content_type = CONTENT_TYPES.get(job.format, CONTENT_TYPES["jsonl"])
        return stored_file_response(
            [job.file_name], filename=download_filename(job), content_type=content_type
        )
