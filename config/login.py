"""The sign-in page, with the token endpoint's rate on password attempts (per client address)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string

from api.throttling import LoginRate


class LoginAttemptRate(LoginRate):
    """The `login` rate, by client address (a form post has no user yet)."""

    def get_cache_key(self, request: Any, view: Any) -> str:
        return self.cache_format % {"scope": "login-form", "ident": self.get_ident(request)}


class LoginView(auth_views.LoginView):
    throttle_scope = "login"

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        attempts = LoginAttemptRate()
        # DRF's throttle reads only the request's META and the view's throttle_scope.
        if not attempts.allow_request(request, self):  # type: ignore[arg-type]
            wait = int(attempts.wait() or 60)
            message = f"Too many sign-in attempts from your address; try again in {wait} seconds."
            page = render_to_string("try_later.html", {"message": message, "title": "Too many attempts"})
            response = HttpResponse(page, status=429)
            response["Retry-After"] = str(wait)
            return response
        return super().post(request, *args, **kwargs)
