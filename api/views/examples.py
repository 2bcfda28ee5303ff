from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from api.serializers.examples import (
    ExampleCreateInput,
    ExampleOutput,
    ExampleUpdateInput,
    ReviewInput,
    ReviewOutput,
    RevisionOutput,
)
from api.views.base import FinchAPIView
from curation import filters as query
from curation import selectors
from curation.models import Role
from curation.search import search_bounded
from curation.services.examples import example_create, example_review, example_update

EXAMPLE_FILTERS = [
    OpenApiParameter("status", str, enum=["draft", "submitted", "approved", "rejected", "needs_changes"]),
    OpenApiParameter("flagged", bool, description="Has an open flag."),
    OpenApiParameter("duplicate", bool, description="Marked as a duplicate of another example."),
    OpenApiParameter("q", str, description="Text contained in the input or output."),
    OpenApiParameter("source", str),
    OpenApiParameter("created_by", str, description="Author's username."),
    OpenApiParameter("page_size", int, description="Up to 1000."),
]


class ProjectExamplesView(FinchAPIView):
    @extend_schema(parameters=EXAMPLE_FILTERS, responses=ExampleOutput(many=True))
    def get(self, request: Request, project_id: int) -> Response:
        project = selectors.project_get(user=request.user, project_id=project_id)
        query.known_only(request.query_params, (*selectors.EXAMPLE_FILTERS, "cursor", "page_size", "format"))
        examples = selectors.example_list(project=project, filters=request.query_params.dict())
        with search_bounded(request.query_params.get("q")):
            return self.paginated(request, examples, ExampleOutput)

    @extend_schema(request=ExampleCreateInput, responses={201: ExampleOutput})
    def post(self, request: Request, project_id: int) -> Response:
        project = selectors.project_get(user=request.user, project_id=project_id)
        fields = self.valid_input(ExampleCreateInput)
        fields.setdefault("source", "api")
        example = example_create(project=project, user=self.user, **fields)
        return Response(ExampleOutput(example).data, status=status.HTTP_201_CREATED)


class ExampleDetailView(FinchAPIView):
    @extend_schema(responses=ExampleOutput)
    def get(self, request: Request, example_id: int) -> Response:
        example = selectors.example_get(user=request.user, example_id=example_id)
        return Response(ExampleOutput(example).data)

    @extend_schema(request=ExampleUpdateInput, responses=ExampleOutput)
    def patch(self, request: Request, example_id: int) -> Response:
        """Edit an example; send the `revision` you read, else 409. The old content is kept."""
        example = selectors.example_get(user=request.user, example_id=example_id)
        changes = self.valid_input(ExampleUpdateInput, partial=True)
        revision = changes.pop("revision", None)
        example = example_update(example=example, user=self.user, revision=revision, changes=changes)
        return Response(ExampleOutput(example).data)


class ExampleHistoryView(FinchAPIView):
    @extend_schema(responses=RevisionOutput(many=True))
    def get(self, request: Request, example_id: int) -> Response:
        """Every version of the example, newest first."""
        example = selectors.example_get(user=request.user, example_id=example_id)
        history = selectors.example_history(example=example)
        context = {"task_type": example.project.task_type}
        # One page: an example's history is short, and it reads best whole.
        return self.one_page(request, RevisionOutput(history, many=True, context=context).data)


class ExampleReviewsView(FinchAPIView):
    @extend_schema(responses=ReviewOutput(many=True))
    def get(self, request: Request, example_id: int) -> Response:
        example = selectors.example_get(user=request.user, example_id=example_id)
        return self.paginated(request, example.reviews.select_related("reviewer", "example"), ReviewOutput)

    @extend_schema(request=ReviewInput, responses={201: ReviewOutput})
    def post(self, request: Request, example_id: int) -> Response:
        """Approve, reject or request changes (reviewer); the example's status follows."""
        example = selectors.example_get(user=request.user, example_id=example_id, min_role=Role.REVIEWER)
        review = example_review(example=example, user=self.user, **self.valid_input(ReviewInput))
        return Response(ReviewOutput(review).data, status=status.HTTP_201_CREATED)
