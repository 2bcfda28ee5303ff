"""`make run` on a taken port: one clear line naming the port and how to pick another, a non-zero
exit, and nothing started (issue 21: the demo ran for minutes, then make said "Error 143")."""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


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
