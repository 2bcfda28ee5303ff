"""Settings for a worker that the integration tests start: the test settings, except that tasks
queued by a task go through the broker. The test settings run every task eagerly, so a worker on
them would run a dedup job's chunk group and its merge inline, in the task that queued them."""

import os

from config.settings import base
from config.settings.test import *  # noqa: F403

CELERY_TASK_ALWAYS_EAGER = False
CELERY_TASK_EAGER_PROPAGATES = False

if "FINCH_EMBEDDING_STATIC" in os.environ:  # a test asks its workers for static candidates
    FINCH_EMBEDDING_STATIC = base.FINCH_EMBEDDING_STATIC
