from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from api.serializers.base_models import BaseModelDetailOutput, BaseModelOutput
from api.views.base import FinchAPIView
from training import registry


class BaseModelsView(FinchAPIView):
    @extend_schema(responses=BaseModelOutput(many=True))
    def get(self, request: Request) -> Response:
        """The base models registered on the workers' hosts, newest first (any signed-in user;
        an operator registers one with `manage.py import_base_model`)."""
        return self.paginated(request, registry.base_model_list(), BaseModelOutput)


class BaseModelDetailView(FinchAPIView):
    @extend_schema(responses=BaseModelDetailOutput)
    def get(self, request: Request, base_model_id: int) -> Response:
        """A registered base model with the manifest of its files."""
        return Response(BaseModelDetailOutput(registry.base_model_get(model_id=base_model_id)).data)
