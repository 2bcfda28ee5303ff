"""`make run` on a taken port: one clear line naming the port and how to pick another, a non-zero
exit, and nothing started (issue 21: the demo ran for minutes, then make said "Error 143").
Its workers: the `gpu` queue in a worker of its own, so that an import never waits behind a
training run, and both stopped with the script."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.conf import settings

from config.celery_app import app

REPO = Path(__file__).resolve().parents[2]
# Starts deploy/run_local.sh with fake workers, its web process "exits" at once or "serves".
Starter = Callable[[str], tuple["subprocess.Popen[bytes]", Path]]


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        yield server.getsockname()[1]


def run(script: str, *args: str, finch_home: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(REPO / "deploy" / script), *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=30,
        env={"PATH": "/usr/local/bin:/usr/bin:/bin", "FINCH_HOME": str(finch_home)},
        check=False,
    )


def test_run_local_on_a_taken_port_says_so_in_one_line_and_starts_nothing(
    taken_port: int, tmp_path: Path
) -> None:
    # When the local run script is started on a port another process listens on
    result = run("run_local.sh", ".venv", "127.0.0.1", str(taken_port), finch_home=tmp_path)

    # Then it exits non-zero with one line that names the port and another to use
    assert result.returncode != 0
    lines = (result.stdout + result.stderr).strip().splitlines()
    assert lines == [
        f"Port {taken_port} is taken on 127.0.0.1; run `make run PORT={taken_port + 1}` "
        "(or stop what is using it)."
    ]
    # And no worker was started (it would have made its log folder)
    assert not (tmp_path / "log").exists()


def test_the_port_check_passes_a_free_port_and_refuses_a_bad_one(taken_port: int, tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free = probe.getsockname()[1]
    assert run("check_port.sh", "127.0.0.1", str(free), finch_home=tmp_path).returncode == 0
    refused = run("check_port.sh", "127.0.0.1", "eighty", finch_home=tmp_path)
    assert refused.returncode != 0 and "PORT must be a number" in refused.stderr


def test_make_run_checks_the_port_before_any_other_work() -> None:
    # The Makefile's `run` target lists the port check as its first prerequisite, before setup
    makefile = (REPO / "Makefile").read_text()
    assert "\nrun: port-free setup\n" in makefile
    assert 'check_port.sh "$(HOST)" "$(PORT)"' in makefile


FAKE_CELERY = """#!/usr/bin/env bash
# A stand-in for celery: records its arguments (one line a worker), then waits to be stopped.
echo "$*" >> "$FAKE_CALLS"
exec sleep 300
"""
# A stand-in for runserver: once both workers are called (or after 5 s), serves until Ctrl-C or
# exits.
FAKE_PYTHON = """#!/usr/bin/env bash
for _ in $(seq 100); do
  [ "$(cat "$FAKE_CALLS" 2>/dev/null | wc -l)" -ge 2 ] && break
  sleep 0.05
done
[ "$FAKE_WEB" = serves ] && exec sleep 299
exit 0
"""


def fake_venv(folder: Path) -> Path:
    """A venv whose `celery` and `python` only record how they were called."""
    for name, script in (("celery", FAKE_CELERY), ("python", FAKE_PYTHON)):
        path = folder / "bin" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(script)
        path.chmod(0o755)
    return folder


def fake_workers_alive(calls: Path) -> list[int]:
    """The fake workers of this test still running (`sleep 300` with this test's FAKE_CALLS)."""
    return fakes_alive(calls, b"300")


def fake_web_alive(calls: Path) -> list[int]:
    """The fake web process of this test still running (`sleep 299`)."""
    return fakes_alive(calls, b"299")


def fakes_alive(calls: Path, seconds: bytes) -> list[int]:
    alive = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")[:2]
            owned = f"FAKE_CALLS={calls}".encode() in (proc / "environ").read_bytes()
        except OSError:
            continue
        if argv == [b"sleep", seconds] and owned:
            alive.append(int(proc.name))
    return alive


@pytest.fixture
def start_run_local(tmp_path: Path) -> Iterator[Starter]:
    """Starts run_local.sh on a free port with the fake venv, in its own process group; whatever
    is left of that group is ended after the test, so a failing test leaves no process behind."""
    started: list[subprocess.Popen[bytes]] = []

    def start(web: str) -> tuple[subprocess.Popen[bytes], Path]:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            free = probe.getsockname()[1]
        calls = tmp_path / "calls"
        env = {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "FINCH_HOME": str(tmp_path / "home"),
            "FAKE_CALLS": str(calls),
            "FAKE_WEB": web,
        }
        venv = fake_venv(tmp_path / "venv")
        script = [str(REPO / "deploy" / "run_local.sh"), str(venv), "127.0.0.1", str(free)]
        started.append(
            subprocess.Popen(
                ["bash", *script],
                cwd=REPO,
                env=env,
                start_new_session=True,
                # Ctrl-C as a terminal delivers it, even where this test runs with SIGINT ignored
                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
            )
        )
        return started[-1], calls

    yield start
    for process in started:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def worker_commands(calls: Path) -> dict[str, list[str]]:
    """Each worker's arguments, keyed by the queues it consumes."""
    commands = [line.split() for line in calls.read_text().splitlines()]
    return {args[args.index("--queues") + 1]: args for args in commands}


def test_run_local_runs_the_gpu_queue_in_a_worker_of_its_own(
    start_run_local: Starter, tmp_path: Path
) -> None:
    # When the local run script starts its workers and its web process exits
    process, calls = start_run_local("exits")
    assert process.wait(timeout=30) == 0

    # Then short jobs' queues (with the only beat) and the gpu queue have a worker each, under
    # node names of their own, logging under FINCH_HOME/log
    workers = worker_commands(calls)
    assert set(workers) == {"celery,quality", "gpu"}
    assert "--beat" in workers["celery,quality"] and "--beat" not in workers["gpu"]
    assert len({args[args.index("--hostname") + 1] for args in workers.values()}) == 2
    logs = {path.name for path in (tmp_path / "home" / "log").iterdir()}
    assert logs == {"worker.log", "worker-gpu.log"}
    # And both workers were stopped when it ended
    assert fake_workers_alive(calls) == []


def ctrl_c(process: subprocess.Popen[bytes]) -> None:
    """Ctrl-C as a terminal sends it: to the whole process group."""
    os.killpg(process.pid, signal.SIGINT)


def sigterm_to_the_script(process: subprocess.Popen[bytes]) -> None:
    """`kill <pid>` or a process manager: the script alone, not its group."""
    process.terminate()


@pytest.mark.parametrize("stop", [ctrl_c, sigterm_to_the_script])
def test_stopping_run_local_stops_the_web_process_and_both_workers(
    start_run_local: Starter, stop: Callable[[subprocess.Popen[bytes]], None]
) -> None:
    # Given the local run script serving, with both workers started
    process, calls = start_run_local("serves")
    deadline = time.monotonic() + 20
    while len(fake_workers_alive(calls)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(fake_workers_alive(calls)) == 2

    # When it is stopped
    stop(process)
    process.wait(timeout=30)

    # Then it stopped at once, and took its web process and workers with it
    assert fake_workers_alive(calls) == [] and fake_web_alive(calls) == []


def test_the_local_workers_consume_every_queue_a_task_is_routed_to(start_run_local: Starter) -> None:
    # Given every queue a task goes to: the default and the routes in settings
    app.loader.import_default_modules()
    routed = {getattr(settings, "CELERY_TASK_DEFAULT_QUEUE", "celery")}
    routed |= {route["queue"] for route in settings.CELERY_TASK_ROUTES.values()}

    # When the local run script starts its workers
    process, calls = start_run_local("exits")
    process.wait(timeout=30)

    # Then each of those queues has a worker, and only one
    consumed = [queue for queues in worker_commands(calls) for queue in queues.split(",")]
    assert sorted(consumed) == sorted(routed)


@pytest.mark.parametrize(
    "task",
    [
        "training.train",
        "training.merge",
        "evaluation.evaluate",
        "evaluation.suggest",
        "evaluation.real_model_demo",
    ],
)
def test_model_work_is_routed_to_the_gpu_queue_by_the_settings(task: str) -> None:
    # Celery 5.5 deprecates a task's own queue= (gone in 6): the routes in settings decide
    app.loader.import_default_modules()
    assert getattr(app.tasks[task], "queue", None) is None
    assert app.amqp.router.route({}, task)["queue"].name == "gpu"
