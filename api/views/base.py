from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.contrib.auth.models import User
from django.db.models import QuerySet
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import Serializer
from rest_framework.views import APIView

from api.pagination import IdCursorPagination


class FileFormatNegotiation(DefaultContentNegotiation):
    """For file endpoints, `?format=` names the file format (jsonl, csv), not a DRF renderer."""

    def select_renderer(
        self, request: Request, renderers: Iterable[BaseRenderer], format_suffix: str | None = None
    ) -> tuple[BaseRenderer, str]:
        renderer = next(iter(renderers))
        return renderer, renderer.media_type


class FinchAPIView(APIView):
    """An API view that validates input with a serializer and pages lists by cursor."""

    # Read by `paginated`, and by drf-spectacular: lists are documented as pages, with their
    # `cursor` and `page_size` parameters.
    pagination_class = IdCursorPagination

    @property
    def user(self) -> User:
        """The signed-in user (IsAuthenticated has already refused anyone else)."""
        user = self.request.user
        assert isinstance(user, User)
        return user

    def valid_input(self, serializer_class: type[Serializer], *, partial: bool = False) -> dict[str, Any]:
        serializer = serializer_class(data=self.request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        return dict(serializer.validated_data)

    def one_page(self, request: Request, results: Any) -> Response:
        """A list short enough to answer whole (`next` is null); a cursor or page size sent to it
        is still checked like every list's, so a bad one is a 400 here too."""
        paginator = self.pagination_class()
        paginator.decode_cursor(request)
        paginator.get_page_size(request)
        return Response({"results": results, "next": None})

    def paginated(
        self,
        request: Request,
        queryset: QuerySet[Any],
        serializer_class: type[Serializer],
        context: dict[str, Any] | None = None,
    ) -> Response:
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(queryset, request, view=self)
        data = serializer_class(page, many=True, context=context or {}).data
        return paginator.get_paginated_response(data)
