"""The phase clock (curation/phases.py): time goes to the innermost open phase, nothing is
counted outside a clock, and sums keep the phases' order."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from curation import phases
from curation.phases import PHASES, in_order, phase, phases_added, running_clock, timing


@pytest.fixture
def ticks(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[float]]:
    """A clock the test moves: perf_counter() reads the last value of the list."""
    now = [0.0]
    monkeypatch.setattr(phases, "perf_counter", lambda: now[-1])
    yield now


def test_nested_phases_charge_each_moment_to_the_innermost_one_only(ticks: list[float]) -> None:
    with timing() as clock:
        ticks.append(1.0)  # outside every phase: not counted
        with phase("read"):
            ticks.append(3.0)  # read: 2 s
            with phase("verify"):
                ticks.append(7.0)  # verify: 4 s, not read's
                with phase("read"):  # the texts a verify reads are read time again
                    ticks.append(7.5)
                ticks.append(8.0)
            ticks.append(8.25)
        ticks.append(20.0)
        assert clock.take() == {"read": 2.0 + 0.5 + 0.25, "verify": 4.0 + 0.5}


def test_take_returns_what_was_charged_since_the_last_take_open_phases_included(ticks: list[float]) -> None:
    with timing() as clock, phase("sketch"):
        ticks.append(2.0)
        assert clock.take() == {"sketch": 2.0}
        ticks.append(2.5)
        assert clock.take() == {"sketch": 0.5}
        assert clock.take() == {}


def test_a_phase_outside_any_clock_counts_nothing_and_a_clock_ends_with_its_block() -> None:
    with phase("write"):
        assert running_clock() is None
    with timing() as clock:
        assert running_clock() is clock
    assert running_clock() is None


def test_an_unknown_phase_is_refused_by_name() -> None:
    with (
        pytest.raises(ValueError, match=r"'hashing'.*read, sketch, embed, candidates, verify, write"),
        phase("hashing"),
    ):
        pass


def test_sums_are_per_phase_and_in_the_phases_order_whatever_the_stored_order() -> None:
    stored = {"write": 1.0, "read": 2.0}  # as a jsonb column may give them back
    total = phases_added(stored, {"verify": 0.5, "read": 0.25})
    assert list(total.items()) == [("read", 2.25), ("verify", 0.5), ("write", 1.0)]
    assert list(in_order(dict.fromkeys(reversed(PHASES), 1.0))) == list(PHASES)
