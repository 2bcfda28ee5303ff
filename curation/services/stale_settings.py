"""Two leads, or two tabs, editing a project's settings at once.

A settings page carries a fingerprint of each setting as it was opened (`settings_fingerprints`).
On saving, `changes_since_opened` keeps the other lead's value of a setting this page left as it
found it (a stale tab saving its old label list dropped a rename made in another), and refuses
a setting both changed, naming it and its value now: nothing is lost without a word. Saving
again from the refused page (it then carries the fingerprints of now) replaces their value.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from curation.errors import Conflict
from curation.models import Project
from curation.services.projects import PROJECT_EDITABLE_FIELDS

SHOWN_CHARACTERS = 120  # of a setting's value now, in the refusal


class SettingsChangedSince(Conflict):
    """Another lead saved a setting this page changed too, since the page was opened."""


def settings_fingerprints(project: Project) -> dict[str, str]:
    """A short hash of each setting a lead may change, as the project holds them now."""
    return {field: _fingerprint(getattr(project, field)) for field in PROJECT_EDITABLE_FIELDS}


def changes_since_opened(project: Project, opened: dict[str, str], changes: dict[str, Any]) -> dict[str, Any]:
    """`changes` less the settings the page left as it found them that another lead has changed
    since (theirs stay); SettingsChangedSince when both changed one. `opened`: the page's
    fingerprints, as settings_fingerprints gave them."""
    now = settings_fingerprints(project)
    kept, clashes = {}, []
    for field, value in changes.items():
        seen = opened.get(field)
        if seen is None or now.get(field) in (None, seen) or _fingerprint(value) == now[field]:
            kept[field] = value  # nobody else changed it (or changed it to this very value)
        elif _fingerprint(value) != seen:
            clashes.append(field)
    if clashes:
        raise SettingsChangedSince(_clash_message(project, clashes), field=clashes[0])
    return kept


def _clash_message(project: Project, fields: list[str]) -> str:
    named = "; ".join(
        f"{field.replace('_', ' ')} (now: {_shown(getattr(project, field))})" for field in fields
    )
    return (
        f"Another lead saved changes to these settings since you opened this page: {named}. "
        "Reload the page to start from theirs, or save again to replace them with yours."
    )


def _shown(value: Any) -> str:
    text = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
    if not text:
        return "empty"
    return text if len(text) <= SHOWN_CHARACTERS else text[: SHOWN_CHARACTERS - 1] + "…"


def _fingerprint(value: Any) -> str:
    return hashlib.sha256(json.dumps(_plain(value), sort_keys=True, default=str).encode()).hexdigest()[:16]


def _plain(value: Any) -> Any:
    """Floats to nine places: a share shown as a percentage comes back a rounding away."""
    if isinstance(value, float):
        return round(value, 9)
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return value
