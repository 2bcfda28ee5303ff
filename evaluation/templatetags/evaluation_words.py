"""Words for the evaluation pages: metric names as people read them."""

from __future__ import annotations

from django import template

from evaluation.metrics import METRIC_LABELS

register = template.Library()


@register.filter
def metric_label(name: str) -> str:
    """`invalid_label` -> "answers that name no label"; an unknown name stays as it is."""
    return METRIC_LABELS.get(name, name)
