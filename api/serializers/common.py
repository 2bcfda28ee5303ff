from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from curation.phases import in_order


class StrictInputSerializer(serializers.Serializer):
    """An input serializer that names unknown fields instead of silently ignoring them."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError(
                    {name: [f"Unknown field; expected one of {', '.join(self.fields)}."] for name in unknown}
                )
        return super().to_internal_value(data)


@extend_schema_field({"type": "string", "nullable": True})
class UsernameField(serializers.Field):
    """A user foreign key shown as the username (null when the user is gone or it was a job)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs["read_only"] = True
        super().__init__(**kwargs)

    def to_representation(self, value: Any) -> str | None:
        return getattr(value, "username", None)


class JobOutput(serializers.Serializer):
    """What every job shows: its life and progress."""

    id = serializers.IntegerField()
    status = serializers.CharField()
    progress = serializers.FloatField()
    error = serializers.CharField()
    created_by = UsernameField()
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)


@extend_schema_field(
    {
        "type": "object",
        "additionalProperties": {"type": "number"},
        "example": {"read": 0.412, "sketch": 2.031, "candidates": 0.187, "verify": 0.954, "write": 0.322},
    }
)
class PhasesField(serializers.Field):
    """Seconds per phase of a job's work, in the phases' order, to the millisecond."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs["read_only"] = True
        super().__init__(**kwargs)

    def to_representation(self, value: Any) -> dict[str, float]:
        return {name: round(seconds, 3) for name, seconds in in_order(value or {}).items()}


class QualityJobOutput(JobOutput):
    """What the dedup, contradiction and validation jobs add: where their time went."""

    phases = PhasesField(
        help_text="Seconds per phase of the work, summed over its tasks, in this order where the job"
        " has them: read, sketch, embed, candidates, verify, write. Running jobs show the phases so far."
    )
