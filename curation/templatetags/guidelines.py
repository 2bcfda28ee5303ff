"""The guidelines panel that Write and Review show above their forms."""

from __future__ import annotations

from typing import Any

from django import template

from curation.markdown import render_markdown
from curation.models import Project
from curation.services.guidelines import guidelines_unread

register = template.Library()


@register.inclusion_tag("curation/_guidelines_panel.html", takes_context=True)
def guidelines_panel(context: template.Context, project: Project) -> dict[str, Any]:
    user = context["request"].user
    return {
        "project": project,
        "html": render_markdown(project.guidelines) if project.guidelines.strip() else "",
        "unread": guidelines_unread(project=project, user=user),
    }


@register.filter
def markdown(text: str) -> str:
    """Markdown rendered safely (raw HTML escaped, unsafe links dropped)."""
    return render_markdown(text or "")
