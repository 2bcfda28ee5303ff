"""Inter-annotator agreement from a reliability matrix: no database, plain data in, figures out.

A matrix is a list of items, each a mapping annotator -> answer (the answer's key: a label, a
canonical JSON text); an annotator who did not label an item is simply absent from it. Only
items with two or more answers say anything about agreement ("pairable" items).

- Krippendorff's alpha, nominal, is computed by the `krippendorff` package. Its bootstrap
  interval resamples items (with replacement, seeded): the package builds an items x values x
  values array per call, too slow to call a thousand times, so each resample's alpha is taken
  from per-item sums of the same coincidences (tests check it equals the package's figure).
- Cohen's kappa per pair of annotators is scikit-learn's, on the items both labeled.
- Per label: one-vs-rest alpha (the label against everything else); per extraction field:
  alpha over that field's value in each answer, a missing field being a value of its own.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter, defaultdict
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import krippendorff
import numpy as np
import numpy.typing as npt
from sklearn.metrics import cohen_kappa_score

from curation.services.content import canonical_json

# annotator -> answer; annotators are any hashable id (Mapping's key type is invariant: Any).
Item = Mapping[Any, str]
RESAMPLES = 1000
RESAMPLE_CHUNK = 50  # resamples drawn at once: bounds the weight matrix at 50 x items
MISSING = "(missing)"
TOO_FEW_ITEMS = "Needs at least 2 items with 2 or more annotations each."
NO_VARIATION = (
    "Every annotation has the same value, so there is no disagreement to measure against: alpha is undefined."
)

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Alpha:
    """An alpha, its 95% bootstrap interval, the number of items it stands on, and, when it is
    None, why."""

    value: float | None
    interval: tuple[float, float] | None
    items: int
    reason: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "value": self.value,
            "interval": list(self.interval) if self.interval else None,
            "items": self.items,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class LabelAlpha:
    label: str
    items: int  # pairable items where at least one annotator gave this label
    alpha: Alpha


@dataclass(frozen=True)
class PairKappa:
    first: Hashable
    second: Hashable
    kappa: float | None
    items: int
    reason: str = ""


@dataclass(frozen=True)
class FieldAlpha:
    field: str
    alpha: Alpha
    agreement: float | None  # share of pairwise comparisons that agree on this field


@dataclass(frozen=True)
class Confusion:
    """The most confused pairs of answers, and a small symmetric table of the answers in them."""

    pairs: list[tuple[str, str, int]]
    labels: list[str] = field(default_factory=list)
    table: list[list[int]] = field(default_factory=list)


def pairable(items: Sequence[Item]) -> list[Item]:
    return [item for item in items if len(item) >= 2]


# -- alpha ---------------------------------------------------------------------------------------


def nominal_alpha(items: Sequence[Item], *, resamples: int = RESAMPLES, seed: int = 0) -> Alpha:
    """Krippendorff's nominal alpha over the pairable items, with a seeded bootstrap interval."""
    paired = pairable(items)
    if len(paired) < 2:
        return Alpha(None, None, len(paired), TOO_FEW_ITEMS)
    domain = sorted({value for item in paired for value in item.values()})
    if len(domain) < 2:
        return Alpha(None, None, len(paired), NO_VARIATION)
    counts = value_counts(paired, domain)
    value = float(krippendorff.alpha(value_counts=counts, level_of_measurement="nominal"))
    if not math.isfinite(value):
        return Alpha(None, None, len(paired), NO_VARIATION)
    observed, totals = _unit_sums(counts)
    draws = _bootstrap(counts.sum(axis=1), observed[:, None], totals, resamples, seed, one_vs_rest=False)
    return Alpha(value, _interval(draws[:, 0]), len(paired))


def value_counts(items: Sequence[Item], domain: Sequence[str]) -> npt.NDArray[np.int64]:
    """items x values: how many annotators gave each value to each item (the package's input)."""
    column = {value: index for index, value in enumerate(domain)}
    counts = np.zeros((len(items), len(domain)), dtype=np.int64)
    for row, item in enumerate(items):
        for value in item.values():
            counts[row, column[value]] += 1
    return counts


def _unit_sums(counts: npt.NDArray[np.int64]) -> tuple[FloatArray, FloatArray]:
    """Per item: its off-diagonal coincidence mass (the observed disagreement it adds), and its
    values' counts. Alpha = 1 - (n - 1) * sum(disagreement) / (n^2 - sum_c n_c^2)."""
    pairs = counts.sum(axis=1).astype(np.float64)
    observed = (pairs**2 - (counts.astype(np.float64) ** 2).sum(axis=1)) / (pairs - 1)
    return observed, counts.astype(np.float64)


def _bootstrap(
    pairs: npt.NDArray[np.int64],
    observed: FloatArray,
    totals: FloatArray,
    resamples: int,
    seed: int,
    *,
    one_vs_rest: bool,
) -> FloatArray:
    """resamples x variables: alpha of each variable in each resample of the items.

    `observed` (items x variables) is each item's disagreement per variable and `totals` (items
    x values) its value counts: one variable over all values, or, one_vs_rest, one variable per
    label whose two values are "the label" and "the rest"."""
    rng = np.random.default_rng(seed)
    units = len(pairs)
    pairs_f = pairs.astype(np.float64)
    out = []
    for start in range(0, resamples, RESAMPLE_CHUNK):
        size = min(RESAMPLE_CHUNK, resamples - start)
        draws = rng.integers(0, units, size=(size, units))
        offsets = (draws + np.arange(size)[:, None] * units).ravel()
        weights = np.bincount(offsets, minlength=size * units).reshape(size, units).astype(np.float64)
        n = weights @ pairs_f
        disagreement = weights @ observed
        n_c = weights @ totals
        # n^2 - sum_c n_c^2; with two values (the label, the rest) that is 2 n_label n_rest.
        expected = 2 * n_c * (n[:, None] - n_c) if one_vs_rest else (n**2 - (n_c**2).sum(axis=1))[:, None]
        with np.errstate(divide="ignore", invalid="ignore"):
            out.append(1 - (n[:, None] - 1) * disagreement / expected)
    return np.vstack(out)


def _interval(draws: FloatArray) -> tuple[float, float] | None:
    """The 2.5th and 97.5th percentiles of the resamples where alpha is defined."""
    finite = draws[np.isfinite(draws)]
    if finite.size == 0:
        return None
    low, high = np.percentile(finite, [2.5, 97.5])
    return float(low), float(high)


def label_alphas(items: Sequence[Item], *, resamples: int = RESAMPLES, seed: int = 0) -> list[LabelAlpha]:
    """One-vs-rest alpha per label that occurs in a pairable item, most frequent first."""
    paired = pairable(items)
    domain = sorted({value for item in paired for value in item.values()})
    if not domain:
        return []
    counts = value_counts(paired, domain)
    pairs = counts.sum(axis=1)
    rest = pairs[:, None] - counts
    with np.errstate(divide="ignore", invalid="ignore"):
        observed = 2 * counts * rest / (pairs[:, None] - 1).astype(np.float64)
    draws = None
    if len(paired) >= 2:
        draws = _bootstrap(pairs, observed, counts.astype(np.float64), resamples, seed, one_vs_rest=True)
    appears = (counts > 0).sum(axis=0)
    result = []
    for column, label in enumerate(domain):
        binary = np.stack([rest[:, column], counts[:, column]], axis=1)
        alpha = _binary_alpha(binary, None if draws is None else draws[:, column])
        result.append(LabelAlpha(label=label, items=int(appears[column]), alpha=alpha))
    return sorted(result, key=lambda entry: (-entry.items, entry.label))


def _binary_alpha(counts: npt.NDArray[np.int64], draws: FloatArray | None) -> Alpha:
    items = len(counts)
    if items < 2 or draws is None:
        return Alpha(None, None, items, TOO_FEW_ITEMS)
    if (counts.sum(axis=0) == 0).any():
        return Alpha(None, None, items, NO_VARIATION)
    value = float(krippendorff.alpha(value_counts=counts, level_of_measurement="nominal"))
    return Alpha(value, _interval(draws), items)


# -- kappa, raw agreement, confusions ------------------------------------------------------------


def pairwise_kappa(items: Sequence[Item]) -> list[PairKappa]:
    """Cohen's kappa for every pair of annotators who labeled an item in common."""
    shared: dict[tuple[Hashable, Hashable], list[tuple[str, str]]] = defaultdict(list)
    for item in items:
        for first, second in itertools.combinations(sorted(item, key=str), 2):
            shared[(first, second)].append((item[first], item[second]))
    return [_kappa(first, second, answers) for (first, second), answers in shared.items()]


def _kappa(first: Hashable, second: Hashable, answers: list[tuple[str, str]]) -> PairKappa:
    if len(answers) < 2:
        return PairKappa(first, second, None, len(answers), "Needs at least 2 items labeled by both.")
    left, right = zip(*answers, strict=True)
    if len(set(left) | set(right)) < 2:
        reason = "Both gave the same single answer throughout: kappa is undefined."
        return PairKappa(first, second, None, len(answers), reason)
    return PairKappa(first, second, float(cohen_kappa_score(left, right)), len(answers))


def percent_agreement(items: Sequence[Item]) -> float | None:
    """The share of pairwise comparisons within items (two annotators, one item) that agree."""
    agree = total = 0
    for item in pairable(items):
        for first, second in itertools.combinations(item.values(), 2):
            agree += first == second
            total += 1
    return agree / total if total else None


def confused_pairs(items: Sequence[Item], *, top: int = 10) -> Confusion:
    """Unordered pairs of different answers given to the same item, by how many items had them."""
    counter: Counter[tuple[str, str]] = Counter()
    for item in items:
        counter.update(itertools.combinations(sorted(set(item.values())), 2))
    pairs = [(first, second, count) for (first, second), count in counter.most_common(top)]
    labels = sorted({label for first, second, _ in pairs for label in (first, second)})
    index = {label: position for position, label in enumerate(labels)}
    table = [[0] * len(labels) for _ in labels]
    for first, second, count in pairs:
        table[index[first]][index[second]] = table[index[second]][index[first]] = count
    return Confusion(pairs=pairs, labels=labels, table=table)


# -- extraction fields ---------------------------------------------------------------------------


def field_alphas(
    answers: Sequence[Mapping[Any, Any]], *, resamples: int = RESAMPLES, seed: int = 0
) -> list[FieldAlpha]:
    """Per top-level field of extraction answers (parsed JSON): nominal alpha over the field's
    canonical JSON, a field an answer lacks (or an answer that is not an object) being MISSING."""
    names = sorted(
        {name for item in answers for value in item.values() if isinstance(value, dict) for name in value}
    )
    result = []
    for name in names:
        items = [
            {annotator: _field_value(value, name) for annotator, value in item.items()} for item in answers
        ]
        result.append(
            FieldAlpha(name, nominal_alpha(items, resamples=resamples, seed=seed), percent_agreement(items))
        )
    return result


def _field_value(answer: Any, name: str) -> str:
    if isinstance(answer, dict) and name in answer:
        return canonical_json(answer[name])
    return MISSING


# -- reading -------------------------------------------------------------------------------------

# Krippendorff (2004, Content Analysis, 2nd ed., p. 241): rely on data with alpha >= .800;
# consider .667 <= alpha < .800 only for tentative conclusions.
GOOD, TENTATIVE = 0.8, 0.667


def alpha_reading(value: float | None) -> tuple[str, str]:
    """(level, a plain-language sentence) for an alpha: good, tentative, low, or unknown."""
    if value is None:
        return "unknown", "Not enough overlapping annotations to say yet."
    if value >= GOOD:
        return "good", (
            "Good: at or above 0.8, Krippendorff's threshold for data you can rely on. The "
            "annotators read the guidelines the same way."
        )
    if value >= TENTATIVE:
        return "tentative", (
            "Tentative: between 0.667 and 0.8, Krippendorff's range for tentative conclusions "
            "only. Look at the most confused labels below and sharpen the guidelines there."
        )
    return "low", (
        "Low: below 0.667 the annotators disagree too often for the labels to be trusted. The "
        "guidelines need work: start with the most confused labels below, then measure again."
    )
