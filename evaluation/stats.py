"""The paired comparison of two systems on the same eval items, and the ship verdict (pure).

Paired, because both systems answer the very same items: resampling items (not each system
apart, as an unpaired z-test does) keeps each item's difficulty on both sides, so a real but
small improvement shows up with far fewer items.

- Paired bootstrap: B resamples of the item indexes (seeded), the candidate's metric minus the
  baseline's on each; the 95% interval is the 2.5th and 97.5th percentiles of those differences.
  Set-level metrics (macro-F1) are recomputed on every resample.
- McNemar's exact test on binary metrics: of the items where the two disagree, how likely a
  split at least this lopsided is when neither system is better (two-sided binomial, p = 1/2).
- Verdict: `ship` only when the interval's lower bound is above the minimum gain and no
  guardrail metric (answers that name no label, invalid JSON, schema violations) got
  significantly worse (McNemar p < 0.05 in the worse direction); `reason` names the rule.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

Floats = npt.NDArray[np.float64]
Indexes = npt.NDArray[np.int64]
# Scores one system on a resample: the item indexes in, the metric out.
Statistic = Callable[[Indexes], float]

DEFAULT_RESAMPLES = 2000
CONFIDENCE = 0.95
GUARDRAIL_ALPHA = 0.05


@dataclass(frozen=True)
class Interval:
    delta: float
    low: float
    high: float


def paired_bootstrap(
    baseline: Statistic, candidate: Statistic, n: int, *, resamples: int = DEFAULT_RESAMPLES, seed: int = 0
) -> Interval:
    """The candidate's gain over the baseline and its 95% interval, by resampling items."""
    everything = np.arange(n)
    rng = np.random.default_rng(seed)
    deltas = np.empty(resamples)
    for b in range(resamples):
        sample = rng.integers(0, n, n)
        deltas[b] = candidate(sample) - baseline(sample)
    tail = (1 - CONFIDENCE) / 2 * 100
    low, high = np.percentile(deltas, [tail, 100 - tail])
    return Interval(candidate(everything) - baseline(everything), float(low), float(high))


def mean_statistic(scores: Sequence[float] | Floats) -> Statistic:
    values = np.asarray(scores, dtype=np.float64)
    return lambda sample: float(values[sample].mean())


def bootstrap_mean(
    scores: Sequence[float] | Floats, *, resamples: int = DEFAULT_RESAMPLES, seed: int = 0
) -> Interval:
    """The mean of per-item scores and its 95% percentile-bootstrap interval (`delta` is the mean):
    the paired bootstrap against a system that scores 0 on every item, so one resampling rule
    serves both."""
    return paired_bootstrap(
        lambda sample: 0.0, mean_statistic(scores), len(scores), resamples=resamples, seed=seed
    )


def mcnemar_exact(baseline: Sequence[float], candidate: Sequence[float]) -> tuple[int, int, float]:
    """(items only the baseline got, items only the candidate got, two-sided exact p-value)."""
    only_baseline = sum(b >= 0.5 > c for b, c in zip(baseline, candidate, strict=True))
    only_candidate = sum(c >= 0.5 > b for b, c in zip(baseline, candidate, strict=True))
    disagreements = only_baseline + only_candidate
    if not disagreements:
        return 0, 0, 1.0
    tail = sum(math.comb(disagreements, k) for k in range(min(only_baseline, only_candidate) + 1))
    return only_baseline, only_candidate, min(1.0, 2 * tail / 2**disagreements)


@dataclass(frozen=True)
class Guardrail:
    metric: str
    worse_when: str  # "higher" or "lower"
    baseline: float
    candidate: float
    p_value: float

    @property
    def significantly_worse(self) -> bool:
        got_worse = (
            self.candidate > self.baseline if self.worse_when == "higher" else self.candidate < self.baseline
        )
        return got_worse and self.p_value < GUARDRAIL_ALPHA


@dataclass(frozen=True)
class Verdict:
    ship: bool
    reason: str
    guardrails: list[Guardrail] = field(default_factory=list)


def verdict(metric: str, interval: Interval, min_gain: float, guardrails: list[Guardrail]) -> Verdict:
    broken = [g for g in guardrails if g.significantly_worse]
    if broken:
        names = ", ".join(
            f"{g.metric} {g.baseline:.3f} -> {g.candidate:.3f} (McNemar p={g.p_value:.3g})" for g in broken
        )
        return Verdict(False, f"A guardrail got significantly worse: {names}.", guardrails)
    if interval.low > min_gain:
        return Verdict(
            True,
            f"{metric} improved by {interval.delta:+.4f}; the whole 95% interval "
            f"[{interval.low:+.4f}, {interval.high:+.4f}] is above the minimum gain {min_gain:+.4f}.",
            guardrails,
        )
    return Verdict(
        False,
        f"The 95% interval of the {metric} gain, [{interval.low:+.4f}, {interval.high:+.4f}] "
        f"(point estimate {interval.delta:+.4f}), is not entirely above the minimum gain {min_gain:+.4f}: "
        "no clear improvement.",
        guardrails,
    )
