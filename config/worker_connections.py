"""Workers keep their database connection from one task to the next.

Celery's Django fixup closes every connection before and after each task, so each job began by
connecting again: about a millisecond on a quiet host, 15 ms (SQLite) to 40 ms (PostgreSQL) on
a loaded one, before the job could even be marked running (bench/job_start.py). The settings'
CELERY_DB_REUSE_MAX has the fixup close them only every so many tasks instead; before each
task, a connection that no longer works (the database restarted, a fail-over) or was left
outside autocommit is closed here, so the task opens a fresh one, as Django does between
requests with CONN_HEALTH_CHECKS.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db import connections

if TYPE_CHECKING:
    from django.db.backends.base.base import BaseDatabaseWrapper


def connect_worker_connections() -> None:
    """Check the worker's connections before each task (called once by the Celery app)."""
    from celery.signals import task_prerun

    task_prerun.connect(before_task, weak=False)


def before_task(task: Any = None, **_: Any) -> None:
    """task_prerun: an eager task runs inside its caller's connection (and maybe its
    transaction), which is the caller's to manage; a worker's task gets a working one."""
    if not getattr(getattr(task, "request", None), "is_eager", False):
        connections_checked()


def connections_checked() -> None:
    """Close this thread's open connections that a task must not reuse."""
    for connection in connections.all(initialized_only=True):
        if connection.connection is not None and not _reusable(connection):
            connection.close()


def _reusable(connection: BaseDatabaseWrapper) -> bool:
    if connection.get_autocommit() != connection.settings_dict["AUTOCOMMIT"]:
        return False
    return connection.is_usable()
