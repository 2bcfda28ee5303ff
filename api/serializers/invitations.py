from rest_framework import serializers

from api.serializers.common import StrictInputSerializer, UsernameField
from curation.models import InvitationStatus, Role


class InvitationInput(StrictInputSerializer):
    role = serializers.ChoiceField(choices=Role.values)
    email = serializers.EmailField(
        required=False, allow_blank=True, help_text="Mailed there when a mail server is set."
    )


class InvitationOutput(serializers.Serializer):
    id = serializers.IntegerField()
    project = serializers.IntegerField(source="project_id")
    role = serializers.CharField()
    email = serializers.CharField()
    status = serializers.CharField(help_text=" | ".join(InvitationStatus.values))
    created_by = UsernameField()
    created_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField()
    accepted_by = UsernameField()
    accepted_at = serializers.DateTimeField(allow_null=True)
    revoked_at = serializers.DateTimeField(allow_null=True)


class NewInvitationOutput(InvitationOutput):
    link = serializers.CharField(help_text="The invitation link; shown only now (Finch keeps only its hash).")
