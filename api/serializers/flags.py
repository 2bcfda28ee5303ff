from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from api.serializers.common import QualityJobOutput, StrictInputSerializer, UsernameField
from api.serializers.examples import ExampleOutputJSONField
from curation.labeling_selectors import disagreement_answers
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
    keep = serializers.IntegerField(
        min_value=1,
        max_value=2**63 - 1,
        required=False,
        help_text="keep_one (disagreement flags): the id of the example (answer) to keep.",
    )
    output = ExampleOutputJSONField(
        required=False, help_text="keep_one: the kept example's output, when the lead edits it."
    )


class AnswerOutput(serializers.Serializer):
    example = serializers.IntegerField(help_text="The example holding this answer.")
    output = serializers.CharField(help_text="The answer as the annotators gave it.")
    annotators = serializers.ListField(child=serializers.CharField(allow_null=True))


class FlagOutput(serializers.Serializer):
    id = serializers.IntegerField()
    project = serializers.IntegerField(source="project_id")
    kind = serializers.CharField()
    examples = serializers.SerializerMethodField()
    answers = serializers.SerializerMethodField(
        help_text="Disagreement flags: each answer, its example and its annotators (else empty)."
    )
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

    @extend_schema_field(AnswerOutput(many=True))
    def get_answers(self, flag: Flag) -> Any:
        return AnswerOutput(disagreement_answers(flag), many=True).data


class ValidationJobOutput(QualityJobOutput):
    project = serializers.IntegerField(source="project_id")
    checked = serializers.IntegerField()
    invalid = serializers.IntegerField()
    flags_raised = serializers.IntegerField()
