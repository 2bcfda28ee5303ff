"""Model suggestions on pages: the confidence as people read it, and what was done with one."""

from __future__ import annotations

from django import template

from curation.models import Suggestion, SuggestionUse
from curation.services.suggestion_use import confidence_text

register = template.Library()


@register.filter
def confidence(suggestion: Suggestion, task_type: str) -> str:
    """`{{ suggestion|confidence:project.task_type }}`: "87%" or "mean log-prob -0.42"."""
    return confidence_text(task_type, suggestion)


@register.filter
def use_label(value: str) -> str:
    """A recorded suggestion use in words ("Accepted unchanged"); empty for none."""
    return str(SuggestionUse(value).label) if value in SuggestionUse.values else ""
