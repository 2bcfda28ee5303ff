"""The Celery app: `celery -A config worker` finds it here."""

import os

from celery import Celery

from config.observability import connect_celery_signals
from config.worker_connections import connect_worker_connections
from config.worker_models import connect_worker_models

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

app = Celery("finch")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
connect_celery_signals()  # every task's log lines carry its id and name
connect_worker_connections()  # a task reuses the connection of the one before, when it still works
connect_worker_models()  # FINCH_PRELOAD_EMBEDDING_MODELS: loaded as each worker process starts
