from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from api.serializers.audit import AuditEventOutput
from api.views.base import FinchAPIView
from curation import selectors
from curation.models import Role
from curation.services.audit import audit_events

AUDIT_FILTERS = [
    OpenApiParameter("actor", str, description="A username."),
    OpenApiParameter("action", str, description='An action ("example.update"), or a prefix ending in "."'),
    OpenApiParameter("target_type", str, description='"example", "flag", "duplicatecluster", ...'),
    OpenApiParameter("target_id", int),
]


class ProjectAuditView(FinchAPIView):
    @extend_schema(parameters=AUDIT_FILTERS, responses=AuditEventOutput(many=True))
    def get(self, request: Request, project_id: int) -> Response:
        """Who changed what in the project, newest first (leads only)."""
        project = selectors.project_get(user=request.user, project_id=project_id, min_role=Role.LEAD)
        events = audit_events(project, request.query_params.dict())
        return self.paginated(request, events, AuditEventOutput)
