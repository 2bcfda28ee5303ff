from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from api.serializers.dedup import (
    ClusterKeepInput,
    ClusterOutput,
    ContradictionJobInput,
    ContradictionJobOutput,
    DedupJobInput,
    DedupJobOutput,
)
from api.views.base import FinchAPIView
from curation import selectors
from curation.models import ContradictionJob, DedupJob, Role
from curation.services.contradictions import contradiction_job_create
from curation.services.dedup import cluster_dissolve, cluster_keep, dedup_job_create


class ProjectDedupJobsView(FinchAPIView):
    @extend_schema(responses=DedupJobOutput(many=True))
    def get(self, request: Request, project_id: int) -> Response:
        """The project's dedup jobs, newest first."""
        project = selectors.project_get(user=request.user, project_id=project_id)
        return self.paginated(request, selectors.job_list(DedupJob, project=project), DedupJobOutput)

    @extend_schema(request=DedupJobInput, responses={202: DedupJobOutput})
    def post(self, request: Request, project_id: int) -> Response:
        """Find duplicates (exact, minhash or embedding) and mark all but one per cluster (lead)."""
        project = selectors.project_get(user=request.user, project_id=project_id, min_role=Role.LEAD)
        job = dedup_job_create(project=project, user=self.user, **self.valid_input(DedupJobInput))
        return Response(DedupJobOutput(job).data, status=status.HTTP_202_ACCEPTED)


class DedupJobDetailView(FinchAPIView):
    @extend_schema(responses=DedupJobOutput)
    def get(self, request: Request, job_id: int) -> Response:
        return Response(DedupJobOutput(selectors.dedup_job_get(user=request.user, job_id=job_id)).data)


class DedupJobClustersView(FinchAPIView):
    @extend_schema(responses=ClusterOutput(many=True))
    def get(self, request: Request, job_id: int) -> Response:
        """The clusters the job found, each with its kept example and members."""
        job = selectors.dedup_job_get(user=request.user, job_id=job_id)
        return self.paginated(request, selectors.cluster_list(job=job), ClusterOutput)


class ClusterKeepView(FinchAPIView):
    @extend_schema(request=ClusterKeepInput, responses=ClusterOutput)
    def post(self, request: Request, cluster_id: int) -> Response:
        """Keep another member of the cluster (reviewer)."""
        cluster = selectors.cluster_get(user=request.user, cluster_id=cluster_id, min_role=Role.REVIEWER)
        fields = self.valid_input(ClusterKeepInput)
        cluster_keep(cluster=cluster, user=self.user, example_id=fields["example"])
        return Response(ClusterOutput(selectors.cluster_get(user=request.user, cluster_id=cluster_id)).data)


class ClusterDissolveView(FinchAPIView):
    @extend_schema(request=None, responses=ClusterOutput)
    def post(self, request: Request, cluster_id: int) -> Response:
        """Unmark the cluster: none of its members is a duplicate any more (reviewer)."""
        cluster = selectors.cluster_get(user=request.user, cluster_id=cluster_id, min_role=Role.REVIEWER)
        cluster_dissolve(cluster=cluster, user=self.user)
        return Response(ClusterOutput(selectors.cluster_get(user=request.user, cluster_id=cluster_id)).data)


class ProjectContradictionJobsView(FinchAPIView):
    @extend_schema(responses=ContradictionJobOutput(many=True))
    def get(self, request: Request, project_id: int) -> Response:
        """The project's contradiction jobs, newest first."""
        project = selectors.project_get(user=request.user, project_id=project_id)
        jobs = selectors.job_list(ContradictionJob, project=project)
        return self.paginated(request, jobs, ContradictionJobOutput)

    @extend_schema(request=ContradictionJobInput, responses={202: ContradictionJobOutput})
    def post(self, request: Request, project_id: int) -> Response:
        """Flag pairs with near-identical inputs and disagreeing outputs (lead)."""
        project = selectors.project_get(user=request.user, project_id=project_id, min_role=Role.LEAD)
        job = contradiction_job_create(
            project=project, user=self.user, **self.valid_input(ContradictionJobInput)
        )
        return Response(ContradictionJobOutput(job).data, status=status.HTTP_202_ACCEPTED)


class ContradictionJobDetailView(FinchAPIView):
    @extend_schema(responses=ContradictionJobOutput)
    def get(self, request: Request, job_id: int) -> Response:
        job = selectors.contradiction_job_get(user=request.user, job_id=job_id)
        return Response(ContradictionJobOutput(job).data)
