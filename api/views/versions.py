from __future__ import annotations

import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from django.http import HttpResponse, StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from api.serializers.versions import FreezePreviewOutput, VersionDiffOutput, VersionInput, VersionOutput
from api.views.base import FileFormatNegotiation, FinchAPIView
from curation import selectors
from curation.errors import Conflict
from curation.models import DatasetVersion, Role, VersionStatus
from curation.services.datacard import card_markdown
from curation.services.version_exports import (
    EXPORT_FORMATS,
    HF_FORMAT,
    SPLITS,
    check_export_request,
    export_lines,
    hf_archive,
    stored_lines,
)
from curation.services.versions import freeze_preview, version_create, version_diff

STREAM_CHUNK = 64 * 1024


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
    content_negotiation_class = FileFormatNegotiation

    @extend_schema(
        parameters=[
            OpenApiParameter("split", str, enum=list(SPLITS), default="all"),
            OpenApiParameter("format", str, enum=list(EXPORT_FORMATS), default="jsonl"),
        ],
        responses={
            (200, "application/x-ndjson"): OpenApiTypes.STR,
            (200, "application/zip"): OpenApiTypes.BINARY,
        },
    )
    def get(self, request: Request, version_id: int) -> HttpResponse | StreamingHttpResponse:
        """Stream a split (train, eval, or all: train then eval) as JSONL in a fine-tuning format,
        or the whole version as a zipped Hugging Face DatasetDict (format=hf_parquet)."""
        version = _frozen(selectors.version_get(user=request.user, version_id=version_id))
        split = request.query_params.get("split", "all")
        file_format = request.query_params.get("format", "jsonl")
        check_export_request(split, file_format)
        stem = f"project-{version.project_id}-v{version.number}"
        if file_format == HF_FORMAT:
            with tempfile.TemporaryDirectory() as scratch:
                archive = hf_archive(version, Path(scratch))
            response = HttpResponse(archive, content_type="application/zip")
            response["Content-Disposition"] = f'attachment; filename="{stem}-hf.zip"'
            return response
        stored = stored_lines(version, split) if file_format == "jsonl" else None
        body = stored if stored is not None else _chunks(export_lines(version, split, file_format))
        streamed = StreamingHttpResponse(body, content_type="application/x-ndjson")
        streamed["Content-Disposition"] = f'attachment; filename="{stem}-{split}-{file_format}.jsonl"'
        return streamed


class VersionCardView(FinchAPIView):
    content_negotiation_class = FileFormatNegotiation

    @extend_schema(responses={(200, "text/markdown"): OpenApiTypes.STR})
    def get(self, request: Request, version_id: int) -> HttpResponse:
        """The version's data card as Markdown."""
        version = _frozen(selectors.version_get(user=request.user, version_id=version_id))
        return HttpResponse(card_markdown(version), content_type="text/markdown; charset=utf-8")


class VersionDiffView(FinchAPIView):
    @extend_schema(responses=VersionDiffOutput)
    def get(self, request: Request, version_id: int, other_id: int) -> Response:
        """Example ids added, removed, changed or moved between splits from this version to the other."""
        version = _frozen(selectors.version_get(user=request.user, version_id=version_id))
        other = _frozen(selectors.version_get(user=request.user, version_id=other_id))
        diff = version_diff(version, other)
        return Response(VersionDiffOutput({"version": version.pk, "other": other.pk, **diff.__dict__}).data)
