"""The embedded default: one machine, SQLite, the file broker, a local worker."""

from config.settings.base import *  # noqa: F403
from config.settings.base import FINCH_HOME
from config.settings.env import env_str, persistent_secret

SECRET_KEY = env_str("DJANGO_SECRET_KEY", "") or persistent_secret(FINCH_HOME / "secret_key")

# Serve static files straight from the apps, so a local run needs no collectstatic.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
