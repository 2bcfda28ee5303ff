"""Seconds per phase of a job's work, so that a slow phase shows on the job's record without a
profiler: read (examples, sketches, cached vectors), sketch (normalize and hash), embed (run the
model), candidates (pairs or groups worth comparing), verify (compare them exactly), write (the
clusters, flags and counts).

Code marks its phases with `phase(name)`, which does nothing unless a clock runs in the current
context (`timing()`; the job runner starts one for jobs that record phases). Phases nest and
time goes to the innermost open one: a service marks its broad steps, library code the finer
ones inside them (a MinHash search's candidates, then its verify; the texts it reads while
verifying), and nothing is counted twice. Time outside every phase (queueing, bookkeeping) is
not counted.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from time import perf_counter

PHASES = ("read", "sketch", "embed", "candidates", "verify", "write")


class PhaseClock:
    """Seconds charged to each phase since the last `take()`."""

    def __init__(self) -> None:
        self._pending: dict[str, float] = {}
        self._open: list[str] = []
        self._since = perf_counter()

    def enter(self, name: str) -> None:
        self._charge()
        self._open.append(name)

    def leave(self) -> None:
        self._charge()
        self._open.pop()

    def take(self) -> dict[str, float]:
        """The seconds charged since the last take, the open phases' included up to now."""
        self._charge()
        taken, self._pending = self._pending, {}
        return taken

    def _charge(self) -> None:
        now = perf_counter()
        if self._open and now > self._since:
            name = self._open[-1]
            self._pending[name] = self._pending.get(name, 0.0) + now - self._since
        self._since = now


_clock: ContextVar[PhaseClock | None] = ContextVar("phase_clock", default=None)


@contextmanager
def phase(name: str) -> Iterator[None]:
    """Charge the block's time to phase `name` (to the clock running in this context, if any)."""
    if name not in PHASES:
        raise ValueError(f"Unknown phase {name!r}; the phases are {', '.join(PHASES)}.")
    clock = _clock.get()
    if clock is None:
        yield
        return
    clock.enter(name)
    try:
        yield
    finally:
        clock.leave()


@contextmanager
def timing() -> Iterator[PhaseClock]:
    """Run a clock for the phases marked inside the block (in this context: not other threads)."""
    clock = PhaseClock()
    token = _clock.set(clock)
    try:
        yield clock
    finally:
        _clock.reset(token)


def running_clock() -> PhaseClock | None:
    return _clock.get()


def phases_added(total: Mapping[str, float], more: Mapping[str, float]) -> dict[str, float]:
    """Both sets of seconds summed per phase, in the phases' order."""
    return in_order({name: total.get(name, 0.0) + more.get(name, 0.0) for name in {*total, *more}})


def in_order(seconds: Mapping[str, float]) -> dict[str, float]:
    """The phases that took time, in the order of PHASES (a JSON column may reorder its keys)."""
    return {name: float(seconds[name]) for name in PHASES if name in seconds}
