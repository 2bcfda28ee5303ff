"""Settings for a worker that the integration tests start: the test settings, except that tasks
queued by a task go through the broker. The test settings run every task eagerly, so a worker on
them would run a dedup job's chunk group and its merge inline, in the task that queued them."""

from config.settings.test import *  # noqa: F403

CELERY_TASK_ALWAYS_EAGER = False
CELERY_TASK_EAGER_PROPAGATES = False
