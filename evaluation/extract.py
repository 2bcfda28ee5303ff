"""Answer extraction: the same rules for the baseline and the tuned model, recorded on each run's
prompt card (pure functions).

- classification: the first non-empty line, without surrounding quotes, punctuation and
  spaces, if it is a label (exactly, else ignoring case); else the one label the whole answer
  names as a separate word (the longest when labels nest); else no label (invalid).
- extraction: the first JSON object in the answer (a model may wrap it in prose or a code
  fence), as canonical JSON; else invalid.
- generation and chat: the answer without surrounding whitespace.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass

from curation.freeze.formats import canonical

RULES = {
    "classification": "first non-empty line if it is a label (exact, else case-insensitive); else the one label named in the answer; else invalid",
    "extraction": "first JSON object in the answer, as canonical JSON; else invalid",
    "generation": "the answer, stripped",
    "chat": "the answer, stripped",
}
_TRIM = " \t\"'`.,;:!?()[]{}<>*"


@dataclass(frozen=True)
class Answer:
    raw: str
    value: str | None  # what is scored; None: nothing valid could be extracted


def extract(task_type: str, raw: str, labels: Sequence[str] = ()) -> Answer:
    if task_type == "classification":
        return Answer(raw, label_of(raw, labels))
    if task_type == "extraction":
        return Answer(raw, json_object_of(raw))
    return Answer(raw, raw.strip())


def label_of(raw: str, labels: Sequence[str]) -> str | None:
    first = next((line.strip(_TRIM) for line in raw.splitlines() if line.strip(_TRIM)), "")
    if first in labels:
        return first
    folded = {label.casefold(): label for label in labels}
    if first.casefold() in folded:
        return folded[first.casefold()]
    named = [
        label
        for label in labels
        if re.search(rf"(?<![\w-]){re.escape(label)}(?![\w-])", raw, flags=re.IGNORECASE)
    ]
    longest = [label for label in named if not any(label != other and label in other for other in named)]
    return longest[0] if len(longest) == 1 else None


def json_object_of(raw: str) -> str | None:
    decoder = json.JSONDecoder()
    for match in re.finditer(r"\{", raw):
        try:
            value, _ = decoder.raw_decode(raw, match.start())
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict):
            return canonical(value)
    return None
