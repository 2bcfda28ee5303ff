"""What a loaded model proposes for each conversation (through an evaluation.engines engine; no
Django): the same rendering, batching and answer extraction as evaluation.

- classification: every label of the project scored as the answer
  (`generate.label_probabilities`, on the transformers engine); the suggestion is the most
  probable label, its confidence that probability, so a suggestion is always a valid label;
- extraction: the generated answer's first JSON object (as evaluation extracts it), valid when it
  passes the project's JSON Schema; confidence: the answer's mean token log-probability;
- generation and chat: the generated answer, stripped; the same confidence.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from curation.services import output_schema
from evaluation.engines import Engine, TransformersEngine
from evaluation.extract import extract
from evaluation.metrics import schema_validator
from training.prompts import Messages

TOP_ALTERNATIVES = 5


@dataclass(frozen=True)
class Proposed:
    output: str
    raw: str
    valid: bool
    confidence: float
    alternatives: list[dict[str, Any]] = field(default_factory=list)  # {"label", "probability"}


def propose(
    engine: Engine,
    conversations: list[Messages],
    *,
    task_type: str,
    labels: list[str],
    schema: dict[str, Any] | None,
    new_tokens: int,
    batch_tokens: int,
    progress: Callable[[int], None] = lambda done: None,
) -> list[Proposed]:
    """One proposal per conversation, in order."""
    if task_type == "classification":
        if not isinstance(engine, TransformersEngine):
            raise TypeError("Label scores run on the transformers engine.")
        return _labels(engine, conversations, labels, batch_tokens, progress)
    answers = engine.scored_answers(conversations, new_tokens, progress, batch_tokens=batch_tokens)
    validator = schema_validator(schema) if task_type == "extraction" else None
    return [_generated(task_type, raw, mean_logprob, validator) for raw, mean_logprob in answers]


def _labels(
    engine: TransformersEngine,
    conversations: list[Messages],
    labels: list[str],
    batch_tokens: int,
    progress: Callable[[int], None],
) -> list[Proposed]:
    if not labels:
        raise ValueError("A classification project needs its labels before a model can suggest one.")
    probabilities = engine.label_probabilities(conversations, labels, progress, batch_tokens=batch_tokens)
    proposed = []
    for row in probabilities:
        ranked = sorted(range(len(labels)), key=lambda index: (-row[index], index))
        best = ranked[0]
        alternatives = [
            {"label": labels[index], "probability": round(float(row[index]), 6)}
            for index in ranked[:TOP_ALTERNATIVES]
        ]
        proposed.append(Proposed(labels[best], "", True, float(row[best]), alternatives))
    return proposed


def _generated(task_type: str, raw: str, mean_logprob: float, validator: Any) -> Proposed:
    value = extract(task_type, raw).value
    if task_type == "extraction":
        valid = value is not None and output_schema.conforms(validator, json.loads(value))
        return Proposed(value if value is not None else raw.strip(), raw, valid, mean_logprob)
    return Proposed(value or "", raw, bool(value), mean_logprob)
