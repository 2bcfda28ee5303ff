"""What lets a queued job start at once: the file broker is polled often and never shows a worker
a message before it is whole, and a worker keeps its database connection between tasks (while
it works). bench/job_start.py measures the time itself."""

from __future__ import annotations

import base64
import json
import os
import uuid
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from django.db import connection
from kombu import Connection

from config import broker
from config.celery_app import app
from config.worker_connections import before_task, connections_checked


def fresh_queue() -> str:
    """A queue of its own per test: kombu remembers the exchanges a process declared, and would
    not declare one again in another test's folder (its messages would then go nowhere)."""
    return f"q{uuid.uuid4().hex[:12]}"


def file_connection(folder: Path) -> Connection:
    options = {
        "data_folder_in": str(folder),
        "data_folder_out": str(folder),
        "control_folder": str(folder),
        "polling_interval": 0.01,
    }
    return Connection("filesystem://", transport=broker.Transport, transport_options=options)


def test_the_embedded_broker_is_finchs_file_transport_polled_every_50_ms() -> None:
    with app.connection_for_read() as reading, app.connection_for_write() as writing:
        for side in (reading, writing):
            assert isinstance(side.transport, broker.Transport)
            assert side.transport.polling_interval == 0.05


def test_a_message_file_appears_under_its_queues_name_only_once_it_is_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen_while_writing: list[list[str]] = []
    real_replace = os.replace
    name = fresh_queue()

    def replace(source: str, target: str) -> None:
        # What a worker listing the folder now would find for the queue, and the written file
        seen_while_writing.append([file for file in os.listdir(tmp_path) if file.endswith(f".{name}.msg")])
        written = json.loads(Path(source).read_text())
        assert json.loads(base64.b64decode(written["body"])) == "hello"
        real_replace(source, target)

    monkeypatch.setattr(broker.os, "replace", replace)
    with file_connection(tmp_path) as conn, conn.SimpleQueue(name) as queue:
        queue.put("hello", serializer="json")
        assert seen_while_writing == [[]]
        files = os.listdir(tmp_path)
        assert len([file for file in files if file.endswith(f".{name}.msg")]) == 1
        assert not [file for file in files if file.endswith(".partial")]
        message = queue.get(timeout=10)
        message.ack()
        assert message.payload == "hello"


def test_every_message_comes_back_once_and_leaves_nothing_behind(tmp_path: Path) -> None:
    with file_connection(tmp_path) as conn, conn.SimpleQueue(fresh_queue()) as queue:
        for number in range(5):
            queue.put({"n": number}, serializer="json")
        got = [queue.get(timeout=10) for _ in range(5)]
        for message in got:
            message.ack()
        assert sorted(message.payload["n"] for message in got) == [0, 1, 2, 3, 4]
        assert not [name for name in os.listdir(tmp_path) if name.endswith((".msg", ".partial"))]


@pytest.mark.django_db(transaction=True)
def test_a_worker_keeps_a_working_connection_for_the_next_task() -> None:
    connection.ensure_connection()
    kept = connection.connection
    before_task(task=SimpleNamespace(request=SimpleNamespace(is_eager=False)))
    assert connection.connection is kept


@pytest.mark.django_db(transaction=True)
def test_a_broken_connection_is_closed_before_the_next_task_which_opens_a_new_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    connection.ensure_connection()
    broken = connection.connection
    monkeypatch.setattr(connection, "is_usable", lambda: False)  # the server went away
    connections_checked()
    assert connection.connection is None
    monkeypatch.undo()
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        assert cursor.fetchone() == (1,)
    assert connection.connection is not broken


@pytest.mark.django_db(transaction=True)
def test_a_connection_left_outside_autocommit_is_not_reused() -> None:
    connection.set_autocommit(False)
    connections_checked()
    assert connection.connection is None
    assert connection.get_autocommit()  # a new connection, as configured


@pytest.mark.django_db
def test_an_eager_task_leaves_its_callers_connection_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    # In a test's transaction autocommit is off: a worker's check would close the connection.
    checked: list[Any] = []
    monkeypatch.setattr("config.worker_connections.connections_checked", lambda: checked.append(1))
    before_task(task=SimpleNamespace(request=SimpleNamespace(is_eager=True)))
    assert checked == []
