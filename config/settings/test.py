"""Settings for the test suite: the same database choice as local, eager Celery, fast hashing."""

from config.settings.base import *  # noqa: F403
from config.settings.base import DATABASES, FINCH_HOME

SECRET_KEY = "test-only-secret-key-not-used-anywhere-else"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_EAGER_PROPAGATES = True
WHITENOISE_USE_FINDERS = True

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A file, not memory, so a real worker process can share the test database.
    DATABASES["default"]["TEST"] = {"NAME": str(FINCH_HOME / "test.sqlite3")}
