"""The labeling queue: leads queue inputs, annotators take the next item and answer or skip it,
reviewers follow every item and its answers."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from api.serializers.labeling import (
    AnnotationInput,
    AnnotationOutput,
    AnswerChangeInput,
    ClaimOutput,
    ItemsInput,
    LabelingItemDetailOutput,
    LabelingItemOutput,
    QueuedOutput,
    QueueInput,
    RequeuedOutput,
    SetAsideOutput,
    SkipInput,
    SubmittedOutput,
)
from api.views.base import FinchAPIView
from curation import labeling_selectors as reads
from curation import selectors
from curation.models import ItemStatus, Role
from curation.roles import role_of
from curation.services.labeling import annotation_submit, assignment_skip, items_enqueue, next_assignment
from curation.services.labeling_aside import items_requeue, items_set_aside
from curation.services.labeling_change import annotation_change

ITEM_FILTERS = [
    OpenApiParameter("status", str, enum=ItemStatus.values),
    OpenApiParameter("source", str, description="e.g. manual, api, import:12, deployment:prod"),
    OpenApiParameter("skipped", bool, description="true: items someone skipped; false: items nobody did."),
    OpenApiParameter("page_size", int, description="Up to 1000."),
]


class ProjectLabelingItemsView(FinchAPIView):
    @extend_schema(parameters=ITEM_FILTERS, responses=LabelingItemOutput(many=True))
    def get(self, request: Request, project_id: int) -> Response:
        """The project's labeling queue, newest first, with each item's status and coverage
        (reviewer: annotators take items with `next`, and see the counts on the project)."""
        project = selectors.project_get(user=request.user, project_id=project_id, min_role=Role.REVIEWER)
        items = reads.labeling_item_list(project=project, filters=request.query_params.dict())
        return self.paginated(request, items, LabelingItemOutput, {"task_type": project.task_type})

    @extend_schema(request=QueueInput, responses={201: QueuedOutput})
    def post(self, request: Request, project_id: int) -> Response:
        """Queue inputs for labeling (lead); an input already queued is counted, not queued twice."""
        project = selectors.project_get(user=request.user, project_id=project_id, min_role=Role.LEAD)
        rows = self.valid_input(QueueInput)["inputs"]
        queued = items_enqueue(
            project=project, user=self.user, inputs=[dict(row) for row in rows], source="api"
        )
        data = {"created": [item.pk for item in queued.created], "already_queued": queued.already_queued}
        return Response(QueuedOutput(data).data, status=status.HTTP_201_CREATED)


class LabelingNextView(FinchAPIView):
    @extend_schema(request=None, responses={200: ClaimOutput, 204: None})
    def post(self, request: Request, project_id: int) -> Response:
        """Claim the next item to label (your live claim, if you hold one); 204 when the queue
        has nothing left for you."""
        project = selectors.project_get(user=request.user, project_id=project_id)
        assignment = next_assignment(project=project, user=self.user)
        if assignment is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        claim = {"item": assignment.item, "expires_at": assignment.expires_at}
        context = {"task_type": project.task_type, "user": self.user}
        return Response(ClaimOutput(claim, context=context).data)


class LabelingItemDetailView(FinchAPIView):
    @extend_schema(responses=LabelingItemDetailOutput)
    def get(self, request: Request, item_id: int) -> Response:
        """An item, the answers you may see and the examples it became."""
        item = reads.labeling_item_get(user=request.user, item_id=item_id)
        context = {"user": request.user, "role": role_of(request.user, item.project)}
        return Response(LabelingItemDetailOutput(item, context=context).data)


class LabelingAnnotationsView(FinchAPIView):
    @extend_schema(request=AnnotationInput, responses={201: SubmittedOutput})
    def post(self, request: Request, item_id: int) -> Response:
        """Answer an item you claimed (or one with a free slot), with the model suggestion it
        showed you (default: its latest); says what your answer did with the suggestion, and what
        the item became when yours was the last answer it needed. 400 for an answer the project
        refuses (a label not in its set) or a suggestion not of this item, 409 when you answered
        it already or its slots were taken after your claim expired."""
        item = reads.labeling_item_get(user=request.user, item_id=item_id)
        fields = self.valid_input(AnnotationInput)
        answer = annotation_submit(
            item=item, user=self.user, output=fields["output"], suggestion_id=fields.get("suggestion")
        )
        item.refresh_from_db()
        data = {
            "item": item.pk,
            "annotator": self.user.username,
            "output": answer.output,
            "submitted_at": answer.submitted_at,
            "seconds": answer.seconds_spent,
            "item_status": item.status,
            "examples": reads.item_example_ids(item),
            "flag": reads.item_flag_id(item),
            "suggestion": answer.suggestion_id,
            "suggestion_use": answer.suggestion_use,
        }
        return Response(SubmittedOutput(data).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=AnswerChangeInput, responses=AnnotationOutput)
    def patch(self, request: Request, item_id: int) -> Response:
        """Change your answer to an item still waiting for others' answers (any member). 400 for an
        answer the project refuses; 409 when you have not answered it, or it is labeled (its answers
        are examples then: edit yours)."""
        item = reads.labeling_item_get(user=request.user, item_id=item_id)
        output = self.valid_input(AnswerChangeInput)["output"]
        return Response(AnnotationOutput(annotation_change(item=item, user=self.user, output=output)).data)


class LabelingSkipView(FinchAPIView):
    @extend_schema(request=SkipInput, responses={204: None})
    def post(self, request: Request, item_id: int) -> Response:
        """Pass on an item, saying why if you will: its slot goes back to the queue and you are not
        given it again. 409 when you answered it already, or it is not in the queue."""
        item = reads.labeling_item_get(user=request.user, item_id=item_id)
        reason = self.valid_input(SkipInput)["reason"]
        assignment_skip(item=item, user=self.user, reason=reason)
        return Response(status=status.HTTP_204_NO_CONTENT)


class LabelingSetAsideView(FinchAPIView):
    @extend_schema(request=ItemsInput, responses=SetAsideOutput)
    def post(self, request: Request, project_id: int) -> Response:
        """Take queued items out of the queue (lead): inputs nobody can label. Their claims end;
        their answers and skips stay. 409 names an item that is not queued."""
        project = selectors.project_get(user=request.user, project_id=project_id, min_role=Role.LEAD)
        ids = items_set_aside(project=project, user=self.user, item_ids=self.valid_input(ItemsInput)["items"])
        return Response(SetAsideOutput({"set_aside": ids}).data)


class LabelingRequeueView(FinchAPIView):
    @extend_schema(request=ItemsInput, responses=RequeuedOutput)
    def post(self, request: Request, project_id: int) -> Response:
        """Put set-aside items back in the queue for everyone (lead): their skips are dropped.
        409 names an item that is not set aside."""
        project = selectors.project_get(user=request.user, project_id=project_id, min_role=Role.LEAD)
        ids = items_requeue(project=project, user=self.user, item_ids=self.valid_input(ItemsInput)["items"])
        return Response(RequeuedOutput({"requeued": ids}).data)
