"""Production: PostgreSQL, a real broker, no secret default (and no weak key), secure cookies, HSTS, JSON logs;
`python manage.py check --deploy` is clean with the defaults (tests/deploy)."""

from config.settings.base import *  # noqa: F403
from config.settings.base import LOGGING
from config.settings.env import env_bool, env_int, env_str, strong_secret_key

# Refuses to start on an empty, short or placeholder key: sessions, CSRF tokens and password
# reset links are only as safe as it is.
SECRET_KEY = strong_secret_key("DJANGO_SECRET_KEY")

SESSION_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", True)
CSRF_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", True)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("DJANGO_SSL_REDIRECT", True)
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]  # probes speak plain HTTP inside the cluster
SECURE_HSTS_SECONDS = env_int("DJANGO_HSTS_SECONDS", 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_HSTS_INCLUDE_SUBDOMAINS", True)
# Preloading is a commitment to browsers' built-in lists that is slow to undo: opt in only.
SECURE_HSTS_PRELOAD = env_bool("DJANGO_HSTS_PRELOAD", False)
SILENCED_SYSTEM_CHECKS = [] if SECURE_HSTS_PRELOAD else ["security.W021"]
STORAGES["staticfiles"] = {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"}  # noqa: F405

# Each web thread keeps its database connection between requests (checked before reuse): a new
# PostgreSQL connection costs milliseconds, and prepared statements (curation/prepared_sql.py)
# live only as long as their connection. gunicorn's 3 workers x 8 threads: up to 24 a container.
DATABASES["default"]["CONN_MAX_AGE"] = env_int("DATABASE_CONN_MAX_AGE", 60)  # noqa: F405
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True  # noqa: F405

if env_str("FINCH_LOG_FORMAT", "json") == "json":
    LOGGING["handlers"]["console"]["formatter"] = "json"  # type: ignore[index]
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
