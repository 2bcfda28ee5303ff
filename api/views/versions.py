from __future__ import annotations

import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from django.conf import settings
from django.http import HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from api.downloads import stored_file_response
from api.schema import ErrorOutput
from api.serializers.versions import FreezePreviewOutput, VersionDiffOutput, VersionInput, VersionOutput
from api.views.base import FileFormatNegotiation, FinchAPIView
from curation import selectors
from curation.errors import Conflict, TooLarge
from curation.models import DatasetVersion, Role, VersionStatus
from curation.services.datacard import card_markdown
from curation.services.export_jobs import stored_version_export
from curation.services.version_exports import (
    EXPORT_FORMATS,
    HF_FORMAT,
    SPLITS,
    check_export_request,
    export_lines,
    hf_archive,
    stored_files,
)
from curation.services.versions import freeze_preview, version_create, version_diff

STREAM_CHUNK = 64 * 1024
NDJSON = "application/x-ndjson"
ZIP = "application/zip"


class ProjectVersionsView(FinchAPIView):
    @extend_schema(responses=VersionOutput(many=True))
    def get(self, request: Request, project_id: int) -> Response:
        """The project's dataset versions, newest first."""
        project = selectors.project_get(user=request.user, project_id=project_id)
        return self.paginated(request, selectors.version_list(project=project), VersionOutput)

    @extend_schema(request=VersionInput, responses={201: VersionOutput, 202: VersionOutput})
    def post(self, request: Request, project_id: int) -> Response:
        """Freeze a version (lead): 201 when done within the request, 202 while a worker freezes it,
        409 when it could not be frozen (nothing qualifies, a freeze is running, leakage blocked it)."""
        project = selectors.project_get(user=request.user, project_id=project_id, min_role=Role.LEAD)
        version = version_create(project=project, user=self.user, **self.valid_input(VersionInput))
        if version.status == VersionStatus.FAILED:  # recorded, with its reason, for the project's history
            raise Conflict(f"Version {version.number} was not frozen: {version.error}")
        code = status.HTTP_201_CREATED if version.is_finished else status.HTTP_202_ACCEPTED
        return Response(VersionOutput(version).data, status=code)


class FreezePreviewView(FinchAPIView):
    @extend_schema(responses=FreezePreviewOutput)
    def get(self, request: Request, project_id: int) -> Response:
        """What a freeze would take now, and what it would leave out and why."""
        project = selectors.project_get(user=request.user, project_id=project_id)
        return Response(FreezePreviewOutput(freeze_preview(project)).data)


class VersionDetailView(FinchAPIView):
    """A version: read-only (PUT, PATCH and DELETE answer 405; the database refuses them too)."""

    @extend_schema(responses=VersionOutput)
    def get(self, request: Request, version_id: int) -> Response:
        return Response(VersionOutput(selectors.version_get(user=request.user, version_id=version_id)).data)


def _frozen(version: DatasetVersion) -> DatasetVersion:
    if not version.is_frozen:
        raise Conflict(
            f"Version {version.number} is {version.status}, not frozen: there is nothing to export."
        )
    return version


def _chunks(lines: Iterable[str]) -> Iterator[bytes]:
    buffer: list[bytes] = []
    size = 0
    for line in lines:
        data = line.encode("utf-8")
        buffer.append(data)
        size += len(data)
        if size >= STREAM_CHUNK:
            yield b"".join(buffer)
            buffer, size = [], 0
    yield b"".join(buffer)


class VersionExportView(FinchAPIView):
    conflicts_on_read = True  # a version that is not frozen has nothing to read

    content_negotiation_class = FileFormatNegotiation

    @extend_schema(
        parameters=[
            OpenApiParameter("split", str, enum=list(SPLITS), default="all"),
            OpenApiParameter("format", str, enum=list(EXPORT_FORMATS), default="jsonl"),
        ],
        responses={
            (200, "application/x-ndjson"): OpenApiTypes.STR,
            (200, "application/zip"): OpenApiTypes.BINARY,
            (413, "application/json"): ErrorOutput,
        },
    )
    def get(self, request: Request, version_id: int) -> HttpResponseBase:
        """Stream a split (train, eval, or all: train then eval) as JSONL in a fine-tuning format,
        or the whole version as a zipped Hugging Face DatasetDict (format=hf_parquet)."""
        version = _frozen(selectors.version_get(user=request.user, version_id=version_id))
        split = request.query_params.get("split", "all")
        file_format = request.query_params.get("format", "jsonl")
        check_export_request(split, file_format)
        stem = f"project-{version.project_id}-v{version.number}"
        if file_format == HF_FORMAT:
            if (job := stored_version_export(version, "all", HF_FORMAT)) is not None:
                return stored_file_response([job.file_name], filename=f"{stem}-hf.zip", content_type=ZIP)
            _check_renderable(version, "all", file_format)
            with tempfile.TemporaryDirectory() as scratch:
                archive = hf_archive(version, Path(scratch))
            response = HttpResponse(archive, content_type=ZIP)
            response["Content-Disposition"] = f'attachment; filename="{stem}-hf.zip"'
            return response
        filename = f"{stem}-{split}-{file_format}.jsonl"
        stored = _stored(version, split, file_format)
        if stored is not None:
            return stored_file_response(stored, filename=filename, content_type=NDJSON)
        _check_renderable(version, split, file_format)
        streamed = StreamingHttpResponse(
            _chunks(export_lines(version, split, file_format)), content_type=NDJSON
        )
        streamed["Content-Disposition"] = f'attachment; filename="{filename}"'
        return streamed


def _stored(version: DatasetVersion, split: str, file_format: str) -> list[str] | None:
    """The files that hold this export whole: the canonical `jsonl` ones written at freeze, or an
    export job's file of this split and format."""
    if file_format == "jsonl" and (names := stored_files(version, split)) is not None:
        return names
    job = stored_version_export(version, split, file_format)
    return [job.file_name] if job is not None else None


def _check_renderable(version: DatasetVersion, split: str, file_format: str) -> None:
    """TooLarge, naming the export job, for a version too large to render within a request."""
    limit = settings.FINCH_EXPORT_SYNC_MAX_ROWS
    counts = version.counts or {}
    rows = sum(int(counts.get(name, 0)) for name in (("train", "eval") if split == "all" else (split,)))
    if rows > limit:
        route = reverse("api-version-exports", args=[version.pk])
        raise TooLarge(
            f"Version {version.number} has {rows} items in {split}: too many to render as {file_format} "
            f"within one request (FINCH_EXPORT_SYNC_MAX_ROWS = {limit}). Start an export job: POST "
            f'{route} {{"split": "{split}", "format": "{file_format}"}}; once it has succeeded this URL '
            "serves its file."
        )


class VersionCardView(FinchAPIView):
    conflicts_on_read = True  # a version that is not frozen has nothing to read

    content_negotiation_class = FileFormatNegotiation

    @extend_schema(responses={(200, "text/markdown"): OpenApiTypes.STR})
    def get(self, request: Request, version_id: int) -> HttpResponse:
        """The version's data card as Markdown."""
        version = _frozen(selectors.version_get(user=request.user, version_id=version_id))
        return HttpResponse(card_markdown(version), content_type="text/markdown; charset=utf-8")


class VersionDiffView(FinchAPIView):
    conflicts_on_read = True  # a version that is not frozen has nothing to read

    # 400: the two versions belong to different projects (FinchAutoSchema lists 400 only for
    # operations with a body or query parameters, and this one has neither).
    @extend_schema(responses={200: VersionDiffOutput, 400: ErrorOutput})
    def get(self, request: Request, version_id: int, other_id: int) -> Response:
        """Example ids added, removed, changed or moved between splits from this version to the other."""
        version = _frozen(selectors.version_get(user=request.user, version_id=version_id))
        other = _frozen(selectors.version_get(user=request.user, version_id=other_id))
        diff = version_diff(version, other)
        return Response(VersionDiffOutput({"version": version.pk, "other": other.pk, **diff.__dict__}).data)
