from typing import Any

from rest_framework import serializers

from api.serializers.common import StrictInputSerializer, UsernameField
from curation.models import DatasetVersion


class VersionInput(StrictInputSerializer):
    name = serializers.CharField(required=False, default="", allow_blank=True, max_length=200)
    eval_fraction = serializers.FloatField(required=False, default=0.1, min_value=0.0, max_value=0.5)
    seed = serializers.IntegerField(required=False, default=0, min_value=0, max_value=2**63 - 1)
    note = serializers.CharField(required=False, default="", allow_blank=True, max_length=10_000)
    block_on_leakage = serializers.BooleanField(required=False, default=False)


class VersionOutput(serializers.Serializer):
    id = serializers.IntegerField()
    project = serializers.IntegerField(source="project_id")
    number = serializers.IntegerField()
    name = serializers.CharField()
    note = serializers.CharField()
    status = serializers.CharField()
    progress = serializers.FloatField()
    error = serializers.CharField()
    eval_fraction = serializers.FloatField()
    seed = serializers.IntegerField()
    block_on_leakage = serializers.BooleanField()
    sha256 = serializers.CharField()
    counts = serializers.DictField(child=serializers.IntegerField())
    created_at = serializers.DateTimeField()
    frozen_at = serializers.DateTimeField(allow_null=True)
    frozen_by = UsernameField(source="created_by")
    leakage = serializers.SerializerMethodField()
    stats = serializers.JSONField()
    manifest = serializers.JSONField()
    guidelines = serializers.CharField(help_text="The project's guidelines (Markdown) when it was frozen.")
    guidelines_revision = serializers.IntegerField(help_text="Their revision; 0: the project had none.")

    def get_leakage(self, version: DatasetVersion) -> dict[str, Any]:
        return {"checked": False, "near_duplicate_pairs": 0, **version.leakage}


class FreezePreviewOutput(serializers.Serializer):
    included = serializers.IntegerField()
    excluded = serializers.DictField(child=serializers.IntegerField())
    samples = serializers.DictField(child=serializers.ListField(child=serializers.IntegerField()))
    not_approved_by_status = serializers.DictField(child=serializers.IntegerField())


class VersionDiffOutput(serializers.Serializer):
    version = serializers.IntegerField()
    other = serializers.IntegerField()
    added = serializers.ListField(child=serializers.IntegerField())
    removed = serializers.ListField(child=serializers.IntegerField())
    changed = serializers.ListField(child=serializers.IntegerField())
    moved = serializers.ListField(child=serializers.IntegerField())
