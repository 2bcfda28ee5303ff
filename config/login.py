"""Signing in with a password, wherever it happens (the sign-in page, the admin's sign-in page,
`POST /api/auth/token/`), counts against one rate per client address (`login`, see
api/throttling.py): a post over it answers 429 before any password is checked."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.template.loader import render_to_string

from api.throttling import LoginRate

View = Callable[..., HttpResponseBase]


def attempts_limited(view: View) -> View:
    """The view, answering 429 with Retry-After to a POST over the sign-in rate."""

    @wraps(view)
    def limited(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        attempts = LoginRate()
        # DRF's throttle reads only the request's META (the view is not used).
        if request.method == "POST" and not attempts.allow_request(request, None):  # type: ignore[arg-type]
            return _too_many(int(attempts.wait() or 60))
        return view(request, *args, **kwargs)

    return limited


def _too_many(wait: int) -> HttpResponse:
    message = f"Too many sign-in attempts from your address; try again in {wait} seconds."
    page = render_to_string("try_later.html", {"message": message, "title": "Too many attempts"})
    response = HttpResponse(page, status=429)
    response["Retry-After"] = str(wait)
    return response


login_view = attempts_limited(auth_views.LoginView.as_view())
