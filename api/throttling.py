"""Request rates for the token API, read from settings on every request (so operators and tests
can change them): per user, per client address when anonymous, and password attempts per address
on every way of signing in (the token endpoint, the sign-in page, the admin's), whose tight rate
slows password guessing. A rate is "N/second|minute|hour|day"; an
empty one turns that limit off. Counts live in the default cache: set FINCH_CACHE_URL to a
Redis URL when several web processes serve the API, so that they share them."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework.throttling import AnonRateThrottle, SimpleRateThrottle, UserRateThrottle


class _RateFromSettings:
    scope: str | None

    def get_rate(self) -> str | None:
        return settings.FINCH_API_THROTTLE_RATES.get(self.scope or "") or None


class UserRate(_RateFromSettings, UserRateThrottle):
    """Authenticated callers, by user (anonymous ones by address)."""


class AnonRate(_RateFromSettings, AnonRateThrottle):
    """Anonymous callers, by address."""


class LoginRate(_RateFromSettings, SimpleRateThrottle):
    """Password attempts by client address at the `login` rate: one count for every way of
    signing in (config/login.py wraps the form views), so switching between them gains nothing."""

    scope = "login"

    def get_cache_key(self, request: Any, view: Any) -> str:
        return self.cache_format % {"scope": "sign-in", "ident": self.get_ident(request)}
