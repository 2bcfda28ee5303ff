from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from api.serializers.flags import FlagInput, FlagOutput, FlagResolveInput
from api.views.base import FinchAPIView
from curation import selectors
from curation.models import FlagKind, Role
from curation.services.flags import flag_create, flag_resolve

FLAG_FILTERS = [
    OpenApiParameter("kind", str, enum=FlagKind.values),
    OpenApiParameter("status", str, enum=["open", "resolved", "dismissed"]),
    OpenApiParameter("raised_by", str, enum=["user", "job"]),
    OpenApiParameter("job", str, description='the job that raised them, as flags name it: "dedup-job:12"'),
]


class ProjectFlagsView(FinchAPIView):
    @extend_schema(parameters=FLAG_FILTERS, responses=FlagOutput(many=True))
    def get(self, request: Request, project_id: int) -> Response:
        project = selectors.project_get(user=request.user, project_id=project_id)
        flags = selectors.flag_list(project=project, filters=request.query_params.dict())
        return self.paginated(request, flags, FlagOutput)

    @extend_schema(request=FlagInput, responses={201: FlagOutput})
    def post(self, request: Request, project_id: int) -> Response:
        """Flag examples; a contradiction names exactly two."""
        project = selectors.project_get(user=request.user, project_id=project_id)
        fields = self.valid_input(FlagInput)
        flag = flag_create(
            project=project,
            user=self.user,
            kind=fields["kind"],
            example_ids=fields["examples"],
            note=fields.get("note", ""),
        )
        flag = selectors.flag_get(user=request.user, flag_id=flag.pk)
        return Response(FlagOutput(flag).data, status=status.HTTP_201_CREATED)


class FlagDetailView(FinchAPIView):
    @extend_schema(responses=FlagOutput)
    def get(self, request: Request, flag_id: int) -> Response:
        return Response(FlagOutput(selectors.flag_get(user=request.user, flag_id=flag_id)).data)


class FlagResolveView(FinchAPIView):
    @extend_schema(request=FlagResolveInput, responses=FlagOutput)
    def post(self, request: Request, flag_id: int) -> Response:
        """Resolve or dismiss an open flag (reviewer)."""
        flag = selectors.flag_get(user=request.user, flag_id=flag_id, min_role=Role.REVIEWER)
        flag_resolve(flag=flag, user=self.user, **self.valid_input(FlagResolveInput))
        flag = selectors.flag_get(user=request.user, flag_id=flag_id)
        return Response(FlagOutput(flag).data)
