"""The Celery app: `celery -A config worker` finds it here."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

app = Celery("finch")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
