from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from api.serializers.suggestions import (
    SuggestionOutput,
    SuggestionRunDetailOutput,
    SuggestionRunInput,
    SuggestionRunOutput,
)
from api.views.base import FinchAPIView
from curation import selectors as curation_selectors
from curation.models import Role
from evaluation import selectors
from evaluation.suggestions import suggestion_run_cancel, suggestion_run_create


class ProjectSuggestionRunsView(FinchAPIView):
    @extend_schema(responses=SuggestionRunOutput(many=True))
    def get(self, request: Request, project_id: int) -> Response:
        """The project's suggestion runs, newest first (reviewer)."""
        project = curation_selectors.project_get(
            user=request.user, project_id=project_id, min_role=Role.REVIEWER
        )
        return self.paginated(
            request, selectors.suggestion_run_list(user=request.user, project=project), SuggestionRunOutput
        )

    @extend_schema(request=SuggestionRunInput, responses={201: SuggestionRunDetailOutput})
    def post(self, request: Request, project_id: int) -> Response:
        """Suggest outputs for queued inputs or drafts (lead): the base model (`base_model`, with
        `few_shot` pairs from the latest frozen version) or a shipped adapter (`training_run`)."""
        project = curation_selectors.project_get(user=request.user, project_id=project_id, min_role=Role.LEAD)
        fields = self.valid_input(SuggestionRunInput)
        run_id = fields.pop("training_run", None)
        if run_id is not None:
            fields["training_run"] = selectors.project_training_run(project=project, run_id=run_id)
        run = suggestion_run_create(project=project, user=self.user, **fields)
        detail = selectors.suggestion_run_get(user=request.user, run_id=run.pk)
        return Response(SuggestionRunDetailOutput(detail).data, status=status.HTTP_201_CREATED)


class SuggestionRunDetailView(FinchAPIView):
    @extend_schema(responses=SuggestionRunDetailOutput)
    def get(self, request: Request, run_id: int) -> Response:
        """A run with its progress, prompt card and, once it succeeded, the quality of its
        suggestions on the inputs people labeled since (reviewer)."""
        run = selectors.suggestion_run_get(user=request.user, run_id=run_id)
        return Response(SuggestionRunDetailOutput(run).data)


class SuggestionRunCancelView(FinchAPIView):
    @extend_schema(request=None, responses=SuggestionRunDetailOutput)
    def post(self, request: Request, run_id: int) -> Response:
        """Cancel (lead): a queued run at once, a running one after its current chunk; nothing it
        suggested is kept. 409 when it has finished."""
        run = selectors.suggestion_run_get(user=request.user, run_id=run_id, min_role=Role.LEAD)
        suggestion_run_cancel(run=run, user=self.user)
        return Response(
            SuggestionRunDetailOutput(selectors.suggestion_run_get(user=request.user, run_id=run_id)).data
        )


class SuggestionRunSuggestionsView(FinchAPIView):
    @extend_schema(responses=SuggestionOutput(many=True))
    def get(self, request: Request, run_id: int) -> Response:
        """The run's suggestions with their inputs, confidence, validity and alternatives
        (reviewer; a run that did not succeed has none)."""
        run = selectors.suggestion_run_get(user=request.user, run_id=run_id)
        return self.paginated(request, selectors.suggestions_of(run=run), SuggestionOutput)
