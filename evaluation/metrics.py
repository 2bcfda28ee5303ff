"""Scores by task type, per example and aggregated (pure; no Django, no torch).

Per-example scores are what the paired comparison resamples, so every metric that has one keeps
it; macro-F1 has none (it is a property of the whole set) and is recomputed on each resample.

- classification: `accuracy` (1 when the extracted label is the reference), `invalid_label`
  (1 when the answer names no label of the project), `macro_f1` (over the labels seen in the
  references or the valid answers).
- extraction: `json_valid` (the answer holds a JSON object), `schema_valid` (and it passes the
  project's JSON Schema, Draft 2020-12), `field_exact_match` (the share of the reference's
  top-level fields the answer gives with an equal value), `exact_match` (the same object).
- generation and chat: `exact_match` (after Unicode NFKC, case folding and whitespace
  collapsing), `chrf` (sacrebleu's chrF, 0..1), `rouge_l` (F1 of the longest common token
  subsequence; words, and CJK characters one by one, so unspaced scripts are not one token).
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from curation.freeze.formats import canonical
from curation.services import output_schema
from evaluation.extract import Answer

PRIMARY = {
    "classification": "accuracy",
    "extraction": "field_exact_match",
    "generation": "chrf",
    "chat": "chrf",
}
# Metrics that must not get significantly worse for a candidate to ship, and which way is worse.
GUARDRAILS = {
    "classification": {"invalid_label": "higher"},
    "extraction": {"json_valid": "lower", "schema_valid": "lower"},
    "generation": {},
    "chat": {},
}
# The metrics as pages name them (the API keeps the names above).
METRIC_LABELS = {
    "accuracy": "accuracy",
    "invalid_label": "answers that name no label",
    "macro_f1": "macro-F1",
    "json_valid": "answers that are valid JSON",
    "schema_valid": "answers that pass the schema",
    "field_exact_match": "fields matching exactly",
    "exact_match": "exact matches",
    "chrf": "chrF",
    "rouge_l": "ROUGE-L",
}
BINARY = {"accuracy", "invalid_label", "json_valid", "schema_valid", "exact_match"}
# Lower is better: a share of failures, checked as a guardrail. A comparison's gain on it would
# read backwards (a drop is an improvement), so it is never the metric a verdict is decided on.
LOWER_IS_BETTER = {
    name for rules in GUARDRAILS.values() for name, worse in rules.items() if worse == "higher"
}
SET_LEVEL = {"macro_f1"}


@dataclass(frozen=True)
class Scores:
    per_example: dict[str, list[float]]  # metric -> one score per example, in order
    aggregate: dict[str, float]  # metric -> its value over the set


def score(
    task_type: str,
    answers: Sequence[Answer],
    references: Sequence[str],
    *,
    labels: Sequence[str] = (),
    schema: dict[str, Any] | None = None,
) -> Scores:
    if task_type == "classification":
        return _classification(answers, references, labels)
    if task_type == "extraction":
        return _extraction(answers, references, schema)
    return _generation(answers, references)


def _means(per_example: dict[str, list[float]]) -> dict[str, float]:
    return {name: float(np.mean(values)) if values else 0.0 for name, values in per_example.items()}


def _classification(answers: Sequence[Answer], references: Sequence[str], labels: Sequence[str]) -> Scores:
    per_example = {
        "accuracy": [
            float(answer.value == reference) for answer, reference in zip(answers, references, strict=True)
        ],
        "invalid_label": [float(answer.value is None) for answer in answers],
    }
    aggregate = _means(per_example)
    aggregate["macro_f1"] = macro_f1([answer.value for answer in answers], list(references))
    return Scores(per_example, aggregate)


def macro_f1(predicted: Sequence[str | None], references: Sequence[str]) -> float:
    """Unweighted mean of per-label F1 over the labels in the references or valid predictions."""
    classes = sorted(set(references) | {label for label in predicted if label is not None})
    if not classes:
        return 0.0
    scores = []
    for label in classes:
        hits = sum(p == label and r == label for p, r in zip(predicted, references, strict=True))
        guessed = sum(p == label for p in predicted)
        actual = sum(r == label for r in references)
        scores.append(2 * hits / (guessed + actual) if guessed + actual else 0.0)
    return float(np.mean(scores))


def _extraction(
    answers: Sequence[Answer], references: Sequence[str], schema: dict[str, Any] | None
) -> Scores:
    validator = schema_validator(schema)
    json_valid, schema_valid, fields, exact = [], [], [], []
    for answer, reference in zip(answers, references, strict=True):
        expected = json.loads(reference)
        got = json.loads(answer.value) if answer.value is not None else None
        json_valid.append(float(got is not None))
        schema_valid.append(float(got is not None and output_schema.conforms(validator, got)))
        fields.append(field_match(got, expected))
        exact.append(float(got is not None and canonical(got) == canonical(expected)))
    per_example = {
        "json_valid": json_valid,
        "schema_valid": schema_valid,
        "field_exact_match": fields,
        "exact_match": exact,
    }
    return Scores(per_example, _means(per_example))


def field_match(got: Any, expected: Any) -> float:
    """The share of the expected object's top-level fields that `got` gives with an equal value
    (a reference that is not an object, or has no fields: 1 when equal, else 0)."""
    if isinstance(expected, dict) and expected:
        if not isinstance(got, dict):
            return 0.0
        equal = sum(key in got and canonical(got[key]) == canonical(value) for key, value in expected.items())
        return equal / len(expected)
    return float(got is not None and canonical(got) == canonical(expected))


def schema_validator(schema: dict[str, Any] | None) -> Any:
    """A validator for the schema (None for no schema), built once per schema: references
    retrieve nothing, patterns have a time limit (curation.services.output_schema)."""
    return _validator(canonical(schema)) if schema else None


@lru_cache(maxsize=8)
def _validator(schema_json: str) -> Any:
    return output_schema.schema_validator(json.loads(schema_json))


def _generation(answers: Sequence[Answer], references: Sequence[str]) -> Scores:
    texts = [answer.value or "" for answer in answers]
    per_example = {
        "exact_match": [
            float(normalized(t) == normalized(r)) for t, r in zip(texts, references, strict=True)
        ],
        "chrf": [chrf(t, [r]) for t, r in zip(texts, references, strict=True)],
        "rouge_l": [rouge_l(t, r) for t, r in zip(texts, references, strict=True)],
    }
    return Scores(per_example, _means(per_example))


def chrf(candidate: str, references: Sequence[str]) -> float:
    """sacrebleu's sentence chrF (0..1) against the best of the references."""
    scorer = _chrf_scorer()
    return max(scorer.sentence_score(candidate, [reference]).score for reference in references) / 100


@lru_cache(maxsize=1)
def _chrf_scorer() -> Any:
    from sacrebleu.metrics import CHRF

    return CHRF()


def normalized(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


# A CJK ideograph, kana or hangul syllable is a token of its own; other runs of word characters
# (letters, digits, marks of any script) are one token each.
_TOKEN = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]|[^\W_]+")


def tokens(text: str) -> list[str]:
    return _TOKEN.findall(unicodedata.normalize("NFKC", text).casefold())


def rouge_l(candidate: str, reference: str) -> float:
    """ROUGE-L F1: the longest common subsequence of tokens, against both lengths."""
    got, expected = tokens(candidate), tokens(reference)
    if not got or not expected:
        return float(got == expected)
    common = _lcs_length(got, expected)
    if not common:
        return 0.0
    precision, recall = common / len(got), common / len(expected)
    return 2 * precision * recall / (precision + recall)


def _lcs_length(a: list[str], b: list[str]) -> int:
    previous = [0] * (len(b) + 1)
    for token in a:
        current = [0]
        for j, other in enumerate(b):
            current.append(previous[j] + 1 if token == other else max(previous[j + 1], current[j]))
        previous = current
    return previous[-1]
