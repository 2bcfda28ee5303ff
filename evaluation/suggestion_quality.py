"""How good a suggestion run's suggestions were, on the inputs people labeled afterwards (reads
only): one figure per metric of the task type, each with n and a 95% bootstrap interval, on three
sets of human answers, and per confidence band.

The human answers a suggestion is scored against:
- `final`: what the input finally became. A queued item: the submitted or approved examples it
  became (several for alternatives: the suggestion counts as right when it matches one of them);
  for a disagreement, only the example a lead kept (while the flag is open there is none). A
  draft: its own output once it is submitted or approved.
- `answers`: each annotator's own answer (for drafts, the one output).
- `blind`: the answers given without seeing the suggestion (the project's blind sample: a
  suggestion existed but was not shown). The honest measure: an annotator shown a suggestion
  tends to keep it, which makes the other two look better than the model is.

Metrics: classification `accuracy` (the suggested label is the human one); extraction
`schema_valid` (the suggestion passed the schema) and `exact_match` (the same JSON value);
generation and chat `chrf` (0..1). The confidence bands split the `final` pairs into quartiles
by the suggestion's confidence, least confident first, with the primary metric in each.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from curation.freeze.formats import canonical
from curation.models import (
    AssignmentState,
    Example,
    ExampleStatus,
    FlagExample,
    FlagKind,
    FlagStatus,
    LabelingAssignment,
    Suggestion,
    SuggestionUse,
    TaskType,
)
from evaluation import metrics, stats
from evaluation.models import SuggestionRun, SuggestionTarget

METRICS = {
    TaskType.CLASSIFICATION: ("accuracy",),
    TaskType.EXTRACTION: ("schema_valid", "exact_match"),
    TaskType.GENERATION: ("chrf",),
    TaskType.CHAT: ("chrf",),
}
PRIMARY = {
    TaskType.CLASSIFICATION: "accuracy",
    TaskType.EXTRACTION: "exact_match",
    TaskType.GENERATION: "chrf",
    TaskType.CHAT: "chrf",
}
SCOPES = ("final", "answers", "blind")
SCOPE_LABELS = {
    "final": "final human output",
    "answers": "each annotator's answer",
    "blind": "answers given blind",
}
BANDS = 4
# A page computes the figures on every view: 1,000 resamples keep that under a second for a
# run of 10,000 inputs and put the interval's ends within about a point of 2,000's.
RESAMPLES = 1000
HUMAN = (ExampleStatus.SUBMITTED, ExampleStatus.APPROVED)


@dataclass(frozen=True)
class Estimate:
    value: float
    low: float
    high: float
    n: int


@dataclass(frozen=True)
class Band:
    confidence_low: float
    confidence_high: float
    estimate: Estimate


@dataclass(frozen=True)
class Scored:
    """A suggestion and the human answer(s) it is judged against."""

    suggestion: Suggestion
    references: tuple[str, ...]


@dataclass(frozen=True)
class SuggestionQuality:
    task_type: str
    metrics: tuple[str, ...]
    primary_metric: str
    n_suggestions: int
    valid: Estimate | None  # the share of all the run's suggestions an annotator could keep
    final: dict[str, Estimate | None]
    answers: dict[str, Estimate | None]
    blind: dict[str, Estimate | None]
    bands: list[Band] = field(default_factory=list)
    resamples: int = RESAMPLES
    seed: int = 0

    @property
    def n_labeled(self) -> int:
        """Inputs with a final human output."""
        return next((e.n for e in self.final.values() if e is not None), 0)

    def rows(self) -> list[dict[str, Any]]:
        """A table for pages: one row per metric, a cell per scope."""
        return [
            {
                "metric": name,
                "label": metrics.METRIC_LABELS.get(name, name),
                "cells": [getattr(self, scope)[name] for scope in SCOPES],
            }
            for name in self.metrics
        ]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {"n_labeled": self.n_labeled}


def suggestion_quality(run: SuggestionRun, *, resamples: int = RESAMPLES, seed: int = 0) -> SuggestionQuality:
    """The run's figures (empty ones are None: nothing labeled yet, or no blind answer)."""
    task_type = run.project.task_type
    names = METRICS[TaskType(task_type)]
    suggestions = {row.pk: row for row in Suggestion.objects.filter(run=run)}
    final, answers, blind = _human_answers(run, suggestions)

    def figures(pairs: list[Scored]) -> dict[str, Estimate | None]:
        return {name: _estimate(_scores(name, pairs), resamples, seed) for name in names}

    validity = [float(row.valid) for row in suggestions.values()]
    return SuggestionQuality(
        task_type=task_type,
        metrics=names,
        primary_metric=PRIMARY[TaskType(task_type)],
        n_suggestions=len(suggestions),
        valid=_estimate(validity, resamples, seed),
        final=figures(final),
        answers=figures(answers),
        blind=figures(blind),
        bands=_bands(final, PRIMARY[TaskType(task_type)], resamples, seed),
        resamples=resamples,
        seed=seed,
    )


# -- the human side ------------------------------------------------------------------------------


Pairs = list[Scored]


def _human_answers(run: SuggestionRun, suggestions: dict[int, Suggestion]) -> tuple[Pairs, Pairs, Pairs]:
    if run.target == SuggestionTarget.DRAFTS:
        return _drafts(run, suggestions)
    return _queue(run, suggestions)


def _queue(run: SuggestionRun, suggestions: dict[int, Suggestion]) -> tuple[Pairs, Pairs, Pairs]:
    by_item = {row.item_id: row for row in suggestions.values() if row.item_id is not None}
    items = Suggestion.objects.filter(run=run).values("item_id")
    undecided = FlagExample.objects.filter(
        flag__kind=FlagKind.DISAGREEMENT, flag__status=FlagStatus.OPEN
    ).values("example_id")
    outcomes: dict[int, list[str]] = defaultdict(list)
    examples = (
        Example.objects.filter(labeling_item__in=items, status__in=HUMAN)
        .exclude(pk__in=undecided)
        .order_by("id")
        .values_list("labeling_item_id", "output")
    )
    for item_id, output in examples:
        outcomes[item_id].append(output)
    final = [Scored(by_item[item_id], tuple(outputs)) for item_id, outputs in outcomes.items()]
    answers, blind = [], []
    submitted = LabelingAssignment.objects.filter(item__in=items, state=AssignmentState.SUBMITTED).order_by(
        "id"
    )
    for item_id, output, shown, seen_id in submitted.values_list(
        "item_id", "output", "suggestion_shown", "suggestion_id"
    ):
        scored = Scored(by_item[item_id], (output,))
        answers.append(scored)
        if not shown and seen_id is not None:
            blind.append(scored)
    return final, answers, blind


def _drafts(run: SuggestionRun, suggestions: dict[int, Suggestion]) -> tuple[Pairs, Pairs, Pairs]:
    by_example = {row.example_id: row for row in suggestions.values() if row.example_id is not None}
    written = (
        Example.objects.filter(
            pk__in=Suggestion.objects.filter(run=run).values("example_id"), status__in=HUMAN
        )
        .exclude(output="")
        .order_by("id")
        .values_list("pk", "output", "suggestion_id", "suggestion_use")
    )
    final, blind = [], []
    for example_id, output, seen_id, use in written:
        scored = Scored(by_example[example_id], (output,))
        final.append(scored)
        if use == SuggestionUse.UNSEEN and seen_id is not None:
            blind.append(scored)
    return final, list(final), blind  # one person wrote each: their answer is the final output


# -- scoring -------------------------------------------------------------------------------------


def _scores(name: str, pairs: Pairs) -> list[float]:
    return [score(name, pair.suggestion, pair.references) for pair in pairs]


def score(name: str, suggestion: Suggestion, references: tuple[str, ...]) -> float:
    """One suggestion against the human answers: right when it matches any of them."""
    if name == "schema_valid":
        return float(suggestion.valid)
    if name == "accuracy":
        return float(any(suggestion.output.strip() == reference.strip() for reference in references))
    if name == "exact_match":
        got = _json(suggestion.output)
        return float(got is not None and any(got == _json(reference) for reference in references))
    if name == "chrf":
        return metrics.chrf(suggestion.output, references)
    raise ValueError(f"unknown suggestion metric {name!r}")


def _json(text: str) -> str | None:
    """The canonical form of a JSON text; None when it is not JSON."""
    try:
        return canonical(json.loads(text))
    except ValueError:
        return None


def _estimate(scores: list[float], resamples: int, seed: int) -> Estimate | None:
    if not scores:
        return None
    interval = stats.bootstrap_mean(scores, resamples=resamples, seed=seed)
    return Estimate(value=interval.delta, low=interval.low, high=interval.high, n=len(scores))


def _bands(final: Pairs, name: str, resamples: int, seed: int) -> list[Band]:
    """Up to four bands of equal size by confidence, least confident first."""
    ranked = sorted(final, key=lambda pair: (pair.suggestion.confidence, pair.suggestion.pk))
    bands: list[Band] = []
    if not ranked:
        return bands
    for part in np.array_split(np.arange(len(ranked)), min(BANDS, len(ranked))):
        pairs = [ranked[i] for i in part]
        estimate = _estimate(_scores(name, pairs), resamples, seed)
        if estimate is not None:
            confidences = [pair.suggestion.confidence for pair in pairs]
            bands.append(Band(min(confidences), max(confidences), estimate))
    return bands
