from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers


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
