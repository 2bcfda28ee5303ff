"""Words for the evaluation pages: metric names as people read them, JSON as people read it."""

from __future__ import annotations

import json
from typing import Any

from django import template

from evaluation.metrics import METRIC_LABELS

register = template.Library()


@register.filter
def metric_label(name: str) -> str:
    """`invalid_label` -> "answers that name no label"; an unknown name stays as it is."""
    return METRIC_LABELS.get(name, name)


@register.filter
def pretty_json(value: Any) -> str:
    """A JSON value indented for reading (the template escapes it)."""
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True)
