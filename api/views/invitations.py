from __future__ import annotations

from django.urls import reverse
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from api.schema import ErrorOutput
from api.serializers.invitations import InvitationInput, InvitationOutput, NewInvitationOutput
from api.views.base import FinchAPIView
from curation import selectors
from curation.models import Role
from curation.services.invitations import invitation_create, invitation_mail, invitation_revoke


class ProjectInvitationsView(FinchAPIView):
    @extend_schema(responses=InvitationOutput(many=True))
    def get(self, request: Request, project_id: int) -> Response:
        """The project's invitations with their status, newest first (lead)."""
        project = selectors.project_get(user=request.user, project_id=project_id, min_role=Role.LEAD)
        return self.paginated(request, selectors.invitation_list(project=project), InvitationOutput)

    @extend_schema(request=InvitationInput, responses={201: NewInvitationOutput})
    def post(self, request: Request, project_id: int) -> Response:
        """Make a single-use, expiring invitation link for a role (lead); the link is shown only here."""
        project = selectors.project_get(user=request.user, project_id=project_id, min_role=Role.LEAD)
        invitation, token = invitation_create(
            project=project, user=self.user, **self.valid_input(InvitationInput)
        )
        link = request.build_absolute_uri(reverse("invitation", args=[token]))
        invitation_mail(invitation=invitation, link=link)
        data = {**InvitationOutput(invitation).data, "link": link}
        return Response(data, status=status.HTTP_201_CREATED)


class InvitationRevokeView(FinchAPIView):
    # 400: the invitation is no longer pending.
    @extend_schema(request=None, responses={200: InvitationOutput, 400: ErrorOutput})
    def post(self, request: Request, invitation_id: int) -> Response:
        """Revoke a pending invitation (lead): its link stops working."""
        invitation = selectors.invitation_get(user=request.user, invitation_id=invitation_id)
        return Response(InvitationOutput(invitation_revoke(invitation=invitation, user=self.user)).data)
