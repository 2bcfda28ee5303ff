"""A real Celery worker process takes a task from a real broker and records the result in the database.

The test sends `curation.validate_examples` through the broker with its own Celery app (the
test settings run tasks eagerly, which only concerns a sender), and a worker started with
`celery -A config worker` consumes it and writes to the test database, which it reaches
through DATABASE_URL. Two brokers: Redis (skipped only when unreachable) and the embedded
file broker under a private FINCH_HOME.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import redis
from celery import Celery
from django.db import connection

from curation.models import (
    Example,
    Flag,
    FlagKind,
    FlagStatus,
    JobStatus,
    Project,
    RaisedBy,
    ValidationJob,
)
from tests.factories import ExampleFactory, ProjectFactory

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

REPO_ROOT = Path(__file__).resolve().parents[2]
REDIS_URL = os.environ.get("FINCH_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
JOB_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 10.0
TASK_NAME = "curation.validate_examples"
# Settings the worker must not inherit from the environment of the test run.
WORKER_ENV_DROPPED = (
    "CELERY_BROKER_URL",
    "CELERY_RESULT_BACKEND",
    "CELERY_TASK_ALWAYS_EAGER",
    "DATABASE_URL",
    "FINCH_HOME",
)


class Worker:
    """A `celery worker` subprocess whose stdout and stderr go to one log file."""

    def __init__(self, process: subprocess.Popen[bytes], log_path: Path) -> None:
        self.process = process
        self.log_path = log_path

    def output(self) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            text = ""
        return f"--- worker output (pid {self.process.pid}, rc {self.process.poll()}) ---\n{text}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()  # warm shutdown
            try:
                self.process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


StartWorker = Callable[..., Worker]


@pytest.fixture
def start_worker(tmp_path: Path) -> Iterator[StartWorker]:
    """Start a worker on the given broker and the test database; every one is stopped afterwards."""
    workers: list[Worker] = []

    def start(
        *,
        finch_home: Path,
        broker_url: str | None,
        extra_env: Mapping[str, str] | None = None,
        queues: str = "celery,quality",
    ) -> Worker:
        """`extra_env` comes last: it may set other settings, the settings module included."""
        env = {key: value for key, value in os.environ.items() if key not in WORKER_ENV_DROPPED}
        env.update(
            DJANGO_SETTINGS_MODULE="config.settings.test",
            DATABASE_URL=_test_database_url(),
            FINCH_HOME=str(finch_home),
            PYTHONPATH=os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")])),
            PYTHONUNBUFFERED="1",
        )
        if broker_url is not None:
            env["CELERY_BROKER_URL"] = broker_url
        env.update(extra_env or {})
        log_path = tmp_path / f"worker-{len(workers)}.log"
        command = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "--pool",
            "solo",
            "--concurrency",
            "1",
            "-Q",
            queues,
            "--loglevel",
            "INFO",
            "--hostname",
            f"finch-test-{uuid.uuid4().hex[:8]}@%h",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ]
        with log_path.open("wb") as log:
            # The working directory is private too: kombu's file broker keeps its exchange
            # tables in a folder relative to it.
            process = subprocess.Popen(
                command, cwd=tmp_path, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log
            )
        worker = Worker(process, log_path)
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        worker.stop()


def _test_database_url() -> str:
    """DATABASE_URL for the test database this process uses (its real name, not the configured one)."""
    db = connection.settings_dict
    name = str(db["NAME"])
    if db["ENGINE"] == "django.db.backends.sqlite3":
        assert name and ":memory:" not in name and "mode=memory" not in name, (
            f"a worker cannot share an in-memory SQLite database ({name!r})"
        )
        return f"sqlite:///{name}"
    if db["ENGINE"] == "django.db.backends.postgresql":
        user = quote(db.get("USER") or "", safe="")
        password = quote(str(db.get("PASSWORD") or ""), safe="")
        auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
        host = quote(db.get("HOST") or "", safe="")
        port = f":{db['PORT']}" if db.get("PORT") else ""
        return f"postgres://{auth}{host}{port}/{quote(name, safe='')}"
    raise AssertionError(f"no worker DATABASE_URL for the engine {db['ENGINE']}")


def _project_with_examples() -> tuple[Project, int]:
    """A classification project with two valid examples and one whose label it does not have."""
    project: Project = ProjectFactory.create()
    ExampleFactory.create(project=project)
    ExampleFactory.create(project=project, output="card_linking")
    bad: Example = ExampleFactory.create(project=project, output="not_a_label_of_this_project")
    assert bad.output not in project.labels
    return project, bad.pk


def _send(
    broker_url: str,
    job_id: int,
    transport_options: dict[str, Any] | None = None,
    *,
    task: str = TASK_NAME,
    queue: str | None = None,
) -> None:
    """Send the task through the broker as a web process would, without eager mode."""
    sender = Celery("finch-test-sender", broker=broker_url, set_as_current=False, fixups=[])
    sender.conf.update(
        broker_transport_options=transport_options or {},
        task_serializer="json",
        task_always_eager=False,
        task_ignore_result=True,
    )
    try:
        sender.send_task(task, args=[job_id], queue=queue)
    finally:
        sender.close()


def _wait_until_finished(job: ValidationJob, worker: Worker) -> None:
    deadline = time.monotonic() + JOB_TIMEOUT_S
    while True:
        job.refresh_from_db()
        if job.is_finished:
            return
        if worker.process.poll() is not None:
            pytest.fail(f"The worker exited while job {job.pk} was {job.status}.\n{worker.output()}")
        if time.monotonic() > deadline:
            pytest.fail(f"Job {job.pk} still {job.status} after {JOB_TIMEOUT_S:.0f} s.\n{worker.output()}")
        time.sleep(0.2)


def _assert_validated(job: ValidationJob, project: Project, bad_example_id: int, worker: Worker) -> None:
    _wait_until_finished(job, worker)
    assert job.status == JobStatus.SUCCEEDED, f"{job.error}\n{job.traceback}\n{worker.output()}"
    assert (job.checked, job.invalid, job.flags_raised) == (3, 1, 1), worker.output()
    assert job.progress == 1.0
    assert job.started_at is not None and job.finished_at is not None
    flags = list(Flag.objects.filter(project=project))
    assert len(flags) == 1, worker.output()
    flag = flags[0]
    assert flag.kind == FlagKind.FORMAT
    assert flag.status == FlagStatus.OPEN
    assert flag.raised_by == RaisedBy.JOB
    assert flag.created_by is None
    assert flag.job == f"validation-job:{job.pk}"
    assert flag.note
    assert list(flag.examples.values_list("pk", flat=True)) == [bad_example_id]


@pytest.fixture
def redis_url() -> Iterator[str]:
    """The Redis database of FINCH_TEST_REDIS_URL, flushed before and after; skip if unreachable."""
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2, socket_timeout=5)
    try:
        client.ping()
    except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
        client.close()
        pytest.skip(f"Redis at {REDIS_URL} (FINCH_TEST_REDIS_URL) is unreachable: {exc}")
    client.flushdb()
    yield REDIS_URL
    client.flushdb()
    client.close()


def test_worker_runs_validation_job_from_redis(start_worker: StartWorker, redis_url: str, tmp_path: Path):
    project, bad_example_id = _project_with_examples()
    job = ValidationJob.objects.create(project=project)
    worker = start_worker(finch_home=tmp_path / "finch-home", broker_url=redis_url)

    _send(redis_url, job.pk)

    _assert_validated(job, project, bad_example_id, worker)


def test_worker_runs_validation_job_from_file_broker(start_worker: StartWorker, tmp_path: Path):
    finch_home = tmp_path / "finch-home"
    broker_dir = finch_home / "broker"
    # The folders the settings give the file broker when CELERY_BROKER_URL is unset.
    for sub in ("queue", "processed", "control"):
        (broker_dir / sub).mkdir(parents=True)
    project, bad_example_id = _project_with_examples()
    job = ValidationJob.objects.create(project=project)
    worker = start_worker(finch_home=finch_home, broker_url=None)

    _send(
        "filesystem://",
        job.pk,
        {
            "data_folder_in": str(broker_dir / "queue"),
            "data_folder_out": str(broker_dir / "queue"),
            "control_folder": str(broker_dir / "control"),
        },
    )

    _assert_validated(job, project, bad_example_id, worker)
    assert not list((broker_dir / "queue").iterdir()), "the message should have been consumed"
