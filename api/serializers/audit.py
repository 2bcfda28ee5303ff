from __future__ import annotations

from rest_framework import serializers


class AuditEventOutput(serializers.Serializer):
    id = serializers.IntegerField()
    at = serializers.DateTimeField()
    actor = serializers.CharField(source="actor_name", help_text="Username; empty for Finch itself (a job).")
    action = serializers.CharField()
    target_type = serializers.CharField()
    target_id = serializers.IntegerField(allow_null=True)
    summary = serializers.CharField()
    changes = serializers.DictField(child=serializers.ListField(), help_text="field -> [before, after]")
    request_id = serializers.CharField()
