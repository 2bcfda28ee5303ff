from __future__ import annotations

from typing import Any

from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from api.serializers.common import JobOutput, StrictInputSerializer
from curation.models import ExampleStatus, ExportJob
from curation.services.exports import EXPORT_FORMATS
from curation.services.version_exports import EXPORT_FORMATS as VERSION_FORMATS
from curation.services.version_exports import SPLITS


class ExportInput(StrictInputSerializer):
    """The format, and the filters of `GET /api/projects/{id}/examples/` (all optional)."""

    format = serializers.ChoiceField(choices=EXPORT_FORMATS, required=False, default="jsonl")
    status = serializers.ChoiceField(choices=ExampleStatus.values, required=False, allow_blank=True)
    flagged = serializers.BooleanField(required=False, allow_null=True, default=None)
    duplicate = serializers.BooleanField(required=False, allow_null=True, default=None)
    q = serializers.CharField(required=False, allow_blank=True, max_length=1000)
    source = serializers.CharField(required=False, allow_blank=True, max_length=200)  # type: ignore[assignment]  # a field named like Field.source
    created_by = serializers.CharField(required=False, allow_blank=True, max_length=150)
    annotations = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Each row whose example came from the labeling queue also lists every annotation "
        "of its item (annotator, output, submitted_at).",
    )


class VersionExportInput(StrictInputSerializer):
    split = serializers.ChoiceField(choices=SPLITS, required=False, default="all")
    format = serializers.ChoiceField(choices=VERSION_FORMATS, required=False, default="jsonl")
    annotations = serializers.BooleanField(
        required=False,
        default=False,
        help_text="jsonl only: each row whose example came from the labeling queue also lists every annotation "
        "of its item (annotator, output, submitted_at).",
    )


@extend_schema_field({"type": "string", "nullable": True, "format": "uri"})
class DownloadUrlField(serializers.Field):
    """Where the finished file is downloaded from (null until then, and once expired)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs["read_only"] = True
        kwargs["source"] = "*"
        super().__init__(**kwargs)

    def to_representation(self, value: ExportJob) -> str | None:
        if not value.is_downloadable:
            return None
        path = reverse("api-export-download", args=[value.pk])
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request is not None else path


class ExportJobOutput(JobOutput):
    project = serializers.IntegerField(source="project_id")
    version = serializers.IntegerField(source="version_id", allow_null=True)
    split = serializers.CharField()
    format = serializers.CharField()
    filters = serializers.DictField(child=serializers.CharField())
    annotations = serializers.BooleanField(help_text="Rows list every annotation of their labeling item.")
    total = serializers.IntegerField(help_text="Rows to write, counted when the job starts.")
    row_count = serializers.IntegerField(
        allow_null=True, help_text="Rows written; set only once the file is whole."
    )
    size = serializers.IntegerField(
        allow_null=True, help_text="Bytes of the file; set only once it is whole."
    )
    sha256 = serializers.CharField(help_text="Of the file; set only once it is whole.")
    expires_at = serializers.DateTimeField(allow_null=True)
    expired = serializers.SerializerMethodField()
    download_url = DownloadUrlField()

    def get_expired(self, job: ExportJob) -> bool:
        return job.expired_at is not None
