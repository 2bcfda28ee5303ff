"""Settings for the test suite: the same database choice as local, eager Celery, fast hashing."""

import os

from config.settings.base import *  # noqa: F403
from config.settings.base import DATABASES, FINCH_HOME

SECRET_KEY = "test-only-secret-key-not-used-anywhere-else"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_EAGER_PROPAGATES = True
WHITENOISE_USE_FINDERS = True
# Embedding jobs take the int8 path unless a test asks for static candidates (their tests do,
# and tests/curation/test_embedding_candidates.py pins the `auto` default's choice).
FINCH_EMBEDDING_STATIC = False
# No request limits: suites send thousands of requests; tests/api/test_throttling.py sets its own.
FINCH_API_THROTTLE_RATES = {"user": "", "anon": "", "login": ""}

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A file, not memory, so a real worker process can share the test database.
    DATABASES["default"]["TEST"] = {"NAME": str(FINCH_HOME / f"test-{os.getpid()}.sqlite3")}
else:
    # One test database per test run, so that parallel runs on one server do not collide.
    DATABASES["default"]["TEST"] = {"NAME": f"test_{DATABASES['default']['NAME']}_{os.getpid()}"}
