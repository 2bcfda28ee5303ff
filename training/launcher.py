"""Data-parallel training from the Celery task: torchrun starts one process a GPU
(`python -m training.distributed`), and the task supervises them until they end.

- The task has tokenized the data and passed the preflight; it hands the examples to the
  processes in a file in the run's work folder, and they write the outcome beside it (rank 0).
- The task writes the run's heartbeat while they run and reads its cancel request: a cancel
  sends SIGTERM to torchrun's process group (torchrun then ends its workers), and SIGKILL after
  a grace.
- The processes die with the task: torchrun gets SIGTERM when its parent goes, and each worker
  when torchrun goes (Linux; torchrun puts every worker in a session of its own), and the task
  ends them when it stops with an error.
- A non-zero exit fails the run with the end of the processes' output in its error.
"""

from __future__ import annotations

import ctypes
import json
import logging
import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from training.capacity import Scale
from training.distributed import DATA_FILE, OUTCOME_FILE
from training.loop import Cancelled, Outcome
from training.models import TrainingRun
from training.preflight import Prepared
from training.reporting import CANCEL_CHECK_EVERY_S, HEARTBEAT_EVERY_S
from training.services import TrainingFailed

log = logging.getLogger(__name__)

OUTPUT_FILE = "processes.log"
POLL_S = 0.2
STOP_GRACE_S = 45.0  # torchrun gives its workers 30 s after its own SIGTERM before it kills them
TAIL_CHARS = 3000
PROJECT_ROOT = Path(__file__).resolve().parent.parent
PR_SET_PDEATHSIG = 1
# Looked up here, not in the forked child, where loading a library could deadlock.
_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None


def train_distributed(
    run: TrainingRun, work: Path, prepared: Prepared, scale: Scale, *, pad_id: int, resume: Path | None
) -> Outcome:
    """Train the run on `scale.processes` processes; Cancelled when it is cancelled meanwhile,
    TrainingFailed when they fail."""
    with (work / DATA_FILE).open("wb") as handle:
        pickle.dump({"train": prepared.train, "eval": prepared.eval, "pad_id": pad_id}, handle)
    output = work / OUTPUT_FILE
    with output.open("wb") as sink:
        process = subprocess.Popen(
            command(run.pk, work, scale.processes, resume),
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
            env=child_environment(),
            cwd=PROJECT_ROOT,
            start_new_session=True,  # its own process group, which a cancel signals whole
            preexec_fn=die_with_parent,  # one prctl call, its function looked up before the fork
        )
    log.info("training run %s: torchrun (pid %s) starts %s processes", run.pk, process.pid, scale.processes)
    try:
        _supervise(run, process)
    finally:
        if process.poll() is None:  # the task stops with an error: the processes stop too
            stop(process)
    if process.returncode != 0:
        raise TrainingFailed(
            f"The {scale.processes} training processes (torchrun) exited with status {process.returncode}. "
            f"The end of their output:\n{tail(output)}"
        )
    return Outcome(**json.loads((work / OUTCOME_FILE).read_text(encoding="utf-8")))


def command(run_id: int, work: Path, processes: int, resume: Path | None) -> list[str]:
    """torchrun (torch.distributed.run, with this Python) on one host, a free port of its choosing."""
    launch = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nnodes=1"]
    arguments = [str(run_id), str(work), *([str(resume)] if resume else [])]
    return [*launch, f"--nproc-per-node={processes}", "-m", "training.distributed", *arguments]


def child_environment() -> dict[str, str]:
    """This worker's environment and settings module, with this checkout first on the path."""
    env = dict(os.environ)
    # The worker's module (settings.SETTINGS_MODULE is None under an override, as in tests)
    env["DJANGO_SETTINGS_MODULE"] = env.get("DJANGO_SETTINGS_MODULE") or settings.SETTINGS_MODULE
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")]))
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _supervise(run: TrainingRun, process: subprocess.Popen[bytes]) -> None:
    """Heartbeat and cancel, until the processes end."""
    last_beat = last_check = 0.0
    while process.poll() is None:
        now = time.monotonic()
        if now - last_check >= CANCEL_CHECK_EVERY_S:
            last_check = now
            if TrainingRun.objects.filter(pk=run.pk, cancel_requested=True).exists():
                stop(process)
                raise Cancelled
        if now - last_beat >= HEARTBEAT_EVERY_S:
            last_beat = now
            heartbeat(run)
        time.sleep(POLL_S)


def heartbeat(run: TrainingRun) -> None:
    """The task's sign of life for the reaper, whatever the processes are doing (loading a model)."""
    TrainingRun.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now())


def stop(process: subprocess.Popen[bytes]) -> None:
    """End the process group: SIGTERM (torchrun passes it to its workers), SIGKILL after a grace."""
    for sent in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sent)
        except ProcessLookupError:
            break
        try:
            process.wait(timeout=STOP_GRACE_S)
            break
        except subprocess.TimeoutExpired:
            continue
    process.wait()


def tail(path: Path) -> str:
    text = path.read_text(encoding="utf-8", errors="replace")
    return text[-TAIL_CHARS:].strip()


def die_with_parent() -> None:
    """The kernel sends this process SIGTERM when its parent dies (Linux; elsewhere nothing)."""
    if _LIBC is not None:
        _LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
