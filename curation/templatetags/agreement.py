"""Figures of the team page: shares as percentages and coefficients to three places, with a
dash for a figure that is not defined."""

from __future__ import annotations

from django import template

register = template.Library()
UNDEFINED = "—"


@register.filter
def percent(share: float | None) -> str:
    return UNDEFINED if share is None else f"{share * 100:.1f}%"


@register.filter
def coefficient(value: float | None) -> str:
    return UNDEFINED if value is None else f"{value:.3f}"


@register.filter
def seconds(value: float | None) -> str:
    if value is None:
        return UNDEFINED
    return f"{value:.0f} s" if value < 120 else f"{value / 60:.1f} min"
