from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from api.serializers.common import StrictInputSerializer, UsernameField
from curation.models import ExampleStatus, ReviewDecision
from curation.models.examples import decode_input
from curation.services.content import CHAT_ROLES

CHAT_MESSAGE = {
    "type": "object",
    "properties": {"role": {"type": "string", "enum": list(CHAT_ROLES)}, "content": {"type": "string"}},
    "required": ["role", "content"],
    "additionalProperties": False,
}
# An example's input: text, or for chat the messages (as a list, or as that list's JSON text).
EXAMPLE_INPUT = {"oneOf": [{"type": "string"}, {"type": "array", "items": CHAT_MESSAGE}]}
# An example's output as sent: text, or for extraction also the JSON document itself.
EXAMPLE_OUTPUT = {"oneOf": [{"type": "string"}, {"type": "object"}, {"type": "array"}]}


@extend_schema_field(OpenApiTypes.ANY)
class AnyJSONField(serializers.JSONField):
    """Any JSON value; the services check its shape per task type and name what is wrong."""


@extend_schema_field(EXAMPLE_INPUT)
class ExampleInputJSONField(AnyJSONField):
    """An example's input (the services check it against the project's task type)."""


@extend_schema_field(EXAMPLE_OUTPUT)
class ExampleOutputJSONField(AnyJSONField):
    """An example's output (the services check it against the project's task type)."""


class ExampleCreateInput(StrictInputSerializer):
    input = ExampleInputJSONField(help_text="A string, or for chat a list of {role, content} messages.")
    output = ExampleOutputJSONField(required=False, help_text="A string; for extraction also a JSON object.")
    metadata = AnyJSONField(required=False)
    external_id = serializers.CharField(max_length=255, required=False, allow_null=True, allow_blank=True)
    status = serializers.ChoiceField(choices=ExampleStatus.values, required=False)
    source = serializers.CharField(max_length=200, required=False)  # type: ignore[assignment]  # a field named like Field.source


class ExampleUpdateInput(StrictInputSerializer):
    revision = serializers.IntegerField(
        required=False, help_text="The revision you last read; without it, or with a stale one: 409."
    )
    input = ExampleInputJSONField(required=False)
    output = ExampleOutputJSONField(required=False)
    metadata = AnyJSONField(required=False)
    external_id = serializers.CharField(max_length=255, required=False, allow_null=True, allow_blank=True)
    status = serializers.ChoiceField(choices=ExampleStatus.values, required=False)


@extend_schema_field(EXAMPLE_INPUT)
class ExampleInputField(serializers.Field):
    """The stored input (of an example or a labeling item) decoded for the project's task type;
    a list view names the task type in its context, so no row loads its project for it."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs["read_only"] = True
        kwargs["source"] = "*"
        super().__init__(**kwargs)

    def to_representation(self, value: Any) -> Any:
        task_type = self.context.get("task_type") or value.project.task_type
        return decode_input(task_type, value.input)


class ExampleOutput(serializers.Serializer):
    id = serializers.IntegerField()
    input = ExampleInputField()
    output = serializers.CharField()
    metadata = serializers.JSONField()
    external_id = serializers.CharField(allow_null=True)
    status = serializers.CharField()
    revision = serializers.IntegerField()
    source = serializers.CharField()  # type: ignore[assignment]  # a field named like Field.source
    duplicate_of = serializers.IntegerField(source="duplicate_of_id", allow_null=True)
    created_by = UsernameField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class RevisionOutput(serializers.Serializer):
    revision = serializers.IntegerField()
    change = serializers.CharField()
    input = serializers.SerializerMethodField()
    output = serializers.CharField()
    metadata = serializers.JSONField()
    external_id = serializers.CharField(allow_null=True)
    status = serializers.CharField()
    changed_by = UsernameField()
    changed_at = serializers.DateTimeField()

    @extend_schema_field(EXAMPLE_INPUT)
    def get_input(self, revision: Any) -> Any:
        return decode_input(self.context["task_type"], revision.input)


class ReviewInput(StrictInputSerializer):
    decision = serializers.ChoiceField(choices=ReviewDecision.values)
    comment = serializers.CharField(max_length=10_000, required=False, allow_blank=True)
    revision = serializers.IntegerField(
        required=False, help_text="The revision you reviewed; a stale one is refused with 409."
    )


class ReviewOutput(serializers.Serializer):
    id = serializers.IntegerField()
    example = serializers.IntegerField(source="example_id")
    decision = serializers.CharField()
    comment = serializers.CharField()
    reviewer = UsernameField()
    revision = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    example_status = serializers.CharField(source="example.status")
