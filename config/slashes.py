"""A path without its trailing slash is redirected keeping the request's method and body.

Django's CommonMiddleware answers such a path with a 301, which clients follow by turning a POST
into a GET: a script that wrote `POST /api/projects` got 200 and the list of projects, as if it
had created one. A 308 (RFC 9110) is followed with the same method and body (requests, curl -L,
browsers), so the write happens at the right path; and there is no DEBUG-only refusal of writes.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponsePermanentRedirect
from django.middleware.common import CommonMiddleware
from django.utils.http import escape_leading_slashes


class PermanentRedirectKeepingMethod(HttpResponsePermanentRedirect):
    status_code = 308


class SlashRedirectMiddleware(CommonMiddleware):
    """CommonMiddleware whose added-slash redirect is a 308."""

    response_redirect_class = PermanentRedirectKeepingMethod

    def get_full_path_with_slash(self, request: HttpRequest) -> str:
        return escape_leading_slashes(request.get_full_path(force_append_slash=True))
