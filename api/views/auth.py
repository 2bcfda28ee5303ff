from typing import Any

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from api.parsers import SafeJSONParser
from api.throttling import LoginRate


class TokenView(ObtainAuthToken):
    """Trade a username and password for the user's API token."""

    throttle_classes = [LoginRate]
    # ObtainAuthToken names DRF's plain JSONParser: a body nested 100,000 deep was a 500 here.
    parser_classes = [SafeJSONParser, FormParser, MultiPartParser]

    @extend_schema(
        request=inline_serializer(
            "TokenInput", {"username": serializers.CharField(), "password": serializers.CharField()}
        ),
        responses=inline_serializer("TokenOutput", {"token": serializers.CharField()}),
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().post(request, *args, **kwargs)
