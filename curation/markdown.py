"""Guidelines Markdown to safe HTML: raw HTML is escaped, links only to http(s), mailto or
relative addresses (markdown-it's own validator refuses javascript:, vbscript:, file: and most
data: URLs; this narrows it further)."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.utils.safestring import SafeString, mark_safe
from markdown_it import MarkdownIt

SAFE_SCHEMES = {"", "http", "https", "mailto"}


def _safe_link(url: str) -> bool:
    # Control characters and spaces inside a scheme ("java\tscript:") are how filters get fooled.
    cleaned = "".join(ch for ch in url if ch.isprintable() and not ch.isspace())
    return urlsplit(cleaned).scheme.lower() in SAFE_SCHEMES


_renderer = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable("table")
_renderer.validateLink = _safe_link  # type: ignore[method-assign]


def render_markdown(text: str) -> SafeString:
    """HTML for a Markdown text, with any HTML in it shown as text, never run."""
    return mark_safe(_renderer.render(text))
