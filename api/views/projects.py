from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from api.schema import ErrorOutput
from api.serializers.flags import ValidationJobOutput
from api.serializers.projects import (
    MemberInput,
    MemberOutput,
    ProjectDetailOutput,
    ProjectInput,
    ProjectOutput,
)
from api.views.base import FinchAPIView
from curation import selectors
from curation.labeling_selectors import labeling_summary
from curation.models import FlagStatus, Project, Role, ValidationJob
from curation.services.projects import (
    membership_remove,
    membership_set,
    project_create,
    project_update,
)
from curation.services.validation_jobs import validation_job_create


class ProjectListView(FinchAPIView):
    @extend_schema(responses=ProjectOutput(many=True))
    def get(self, request: Request) -> Response:
        """The projects you are a member of."""
        return self.paginated(request, selectors.project_list(user=request.user), ProjectOutput)

    @extend_schema(request=ProjectInput, responses={201: ProjectOutput})
    def post(self, request: Request) -> Response:
        """Create a project; you become its lead."""
        project = project_create(user=self.user, **self.valid_input(ProjectInput))
        project = selectors.project_get(user=request.user, project_id=project.pk)
        return Response(ProjectOutput(project).data, status=status.HTTP_201_CREATED)


class ProjectDetailView(FinchAPIView):
    @extend_schema(responses=ProjectDetailOutput)
    def get(self, request: Request, project_id: int) -> Response:
        project = selectors.project_get(user=request.user, project_id=project_id)
        return Response(_detail(project))

    @extend_schema(request=ProjectInput(partial=True), responses=ProjectDetailOutput)
    def patch(self, request: Request, project_id: int) -> Response:
        """Change the project's settings (lead)."""
        project = selectors.project_get(user=request.user, project_id=project_id, min_role=Role.LEAD)
        project_update(project=project, user=self.user, changes=self.valid_input(ProjectInput, partial=True))
        return Response(_detail(project))


def _detail(project: Project) -> dict[str, object]:
    data = dict(ProjectOutput(project).data)
    data["guidelines"] = project.guidelines
    data["guidelines_revision"] = project.guidelines_revision
    data["counts"] = selectors.project_status_counts(project)
    data["open_flags"] = project.flags.filter(status=FlagStatus.OPEN).count()
    data["labeling"] = labeling_summary(project)
    return data


class ProjectMembersView(FinchAPIView):
    @extend_schema(responses=MemberOutput(many=True))
    def get(self, request: Request, project_id: int) -> Response:
        project = selectors.project_get(user=request.user, project_id=project_id)
        return self.paginated(request, selectors.members_list(project=project), MemberOutput)

    @extend_schema(request=MemberInput, responses={201: MemberOutput, 200: MemberOutput})
    def post(self, request: Request, project_id: int) -> Response:
        """Add a member, or change a member's role (lead)."""
        project = selectors.project_get(user=request.user, project_id=project_id, min_role=Role.LEAD)
        membership, created = membership_set(project=project, user=self.user, **self.valid_input(MemberInput))
        code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
        return Response(MemberOutput(membership).data, status=code)


class ProjectMemberDetailView(FinchAPIView):
    # 400: the user is not a member, or is the last lead.
    @extend_schema(responses={204: None, 400: ErrorOutput})
    def delete(self, request: Request, project_id: int, username: str) -> Response:
        """Remove a member (lead); the last lead stays."""
        project = selectors.project_get(user=request.user, project_id=project_id, min_role=Role.LEAD)
        membership_remove(project=project, user=self.user, username=username)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ProjectValidationJobsView(FinchAPIView):
    @extend_schema(responses=ValidationJobOutput(many=True))
    def get(self, request: Request, project_id: int) -> Response:
        """The project's validation jobs, newest first."""
        project = selectors.project_get(user=request.user, project_id=project_id)
        jobs = selectors.job_list(ValidationJob, project=project)
        return self.paginated(request, jobs, ValidationJobOutput)

    @extend_schema(request=None, responses={202: ValidationJobOutput})
    def post(self, request: Request, project_id: int) -> Response:
        """Re-check every example against the project's settings; invalid ones get format flags."""
        project = selectors.project_get(user=request.user, project_id=project_id, min_role=Role.LEAD)
        job = validation_job_create(project=project, user=self.user)
        return Response(ValidationJobOutput(job).data, status=status.HTTP_202_ACCEPTED)


class ValidationJobDetailView(FinchAPIView):
    @extend_schema(responses=ValidationJobOutput)
    def get(self, request: Request, job_id: int) -> Response:
        job = selectors.validation_job_get(user=request.user, job_id=job_id)
        return Response(ValidationJobOutput(job).data)
