from __future__ import annotations

from rest_framework import serializers

from api.serializers.common import JobOutput, StrictInputSerializer, UsernameField
from curation.models import Flag, FlagKind, FlagResolution


class FlagInput(StrictInputSerializer):
    kind = serializers.ChoiceField(choices=FlagKind.values)
    examples = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=2**63 - 1), max_length=1000
    )
    note = serializers.CharField(max_length=10_000, required=False, allow_blank=True)


class FlagResolveInput(StrictInputSerializer):
    resolution = serializers.ChoiceField(choices=FlagResolution.values)
    note = serializers.CharField(max_length=10_000, required=False, allow_blank=True)


class FlagOutput(serializers.Serializer):
    id = serializers.IntegerField()
    project = serializers.IntegerField(source="project_id")
    kind = serializers.CharField()
    examples = serializers.SerializerMethodField()
    note = serializers.CharField()
    status = serializers.CharField()
    raised_by = serializers.CharField()
    created_by = UsernameField()
    job = serializers.CharField()
    resolution = serializers.CharField()
    resolution_note = serializers.CharField()
    resolved_by = UsernameField()
    resolved_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()

    def get_examples(self, flag: Flag) -> list[int]:
        """Example ids in the order they were named (first, second, ...)."""
        memberships = sorted(flag.memberships.all(), key=lambda member: member.position)
        return [member.example_id for member in memberships]


class ValidationJobOutput(JobOutput):
    project = serializers.IntegerField(source="project_id")
    checked = serializers.IntegerField()
    invalid = serializers.IntegerField()
    flags_raised = serializers.IntegerField()
