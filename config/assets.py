"""Files browsers ask for at fixed root paths, answered from the static files."""

from django.http import HttpRequest, HttpResponseRedirect
from django.templatetags.static import static
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_safe


@require_safe
@cache_control(max_age=86400, public=True)
def favicon(request: HttpRequest) -> HttpResponseRedirect:
    """/favicon.ico, which browsers fetch for pages without a <link rel=icon> (the API's JSON, files):
    a redirect to the static icon (its hashed name in production), not a permanent one, since
    that name changes with the file."""
    return HttpResponseRedirect(static("finch/favicon.ico"))
