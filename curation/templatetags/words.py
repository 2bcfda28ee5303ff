"""Stored codes in words for pages (`review_undone` -> "review undone")."""

from django import template

register = template.Library()


@register.filter
def words(code: str) -> str:
    return str(code).replace("_", " ")
