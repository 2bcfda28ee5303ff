from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from api.serializers.agreement import AgreementOutput
from api.views.base import FinchAPIView
from curation import selectors
from curation.agreement_selectors import project_agreement
from curation.models import Role


class ProjectAgreementView(FinchAPIView):
    @extend_schema(responses=AgreementOutput)
    def get(self, request: Request, project_id: int) -> Response:
        """Inter-annotator agreement of the labeling queue (reviewers and leads: annotators do
        not see each other's answers, so they do not see these figures either)."""
        project = selectors.project_get(user=request.user, project_id=project_id, min_role=Role.REVIEWER)
        return Response(AgreementOutput(project_agreement(project=project)).data)
