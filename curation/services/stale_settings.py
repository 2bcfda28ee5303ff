"""Two leads, or two tabs, editing a project's settings at once.

A settings page carries a fingerprint of each setting as it was opened (`settings_fingerprints`).
On saving, `changes_since_opened` keeps the other lead's value of a setting this page left as it
found it (a stale tab saving its old label list dropped a rename made in another), and refuses
a setting both changed, naming it and its value now: nothing is lost without a word. Saving
again from the refused page (it then carries the fingerprints of now for those settings only)
replaces their value there and still keeps theirs in the settings the page left alone.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from curation.errors import Conflict
from curation.models import Project
from curation.services.projects import PROJECT_EDITABLE_FIELDS

SHOWN_CHARACTERS = 120  # of a setting's value now, in the refusal
# Settings as the page names them, where the field's name would not say it.
SHOWN_NAMES = {
    "output_schema": "output JSON schema",
    "min_gain": "minimum gain to ship",
    "reviewers_may_not_review_own": "separation of duties",
    "labeling_overlap": "annotations per input",
    "labeling_overlap_share": "share of inputs that get the overlap",
    "labeling_fill": "how the queue fills the overlap",
    "suggestion_blind_share": "suggestions shown only after answering",
    "currency_folds": "currency signs count as one",
}
SHARES = {"labeling_overlap_share", "suggestion_blind_share"}  # shown as percentages


class SettingsChangedSince(Conflict):
    """Another lead saved settings this page changed too, since the page was opened."""

    def __init__(self, message: str, *, fields: list[str]) -> None:
        super().__init__(message, field=fields[0])
        self.fields = fields


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
        seen, mine = opened.get(field), _fingerprint(value)
        if seen is None or now.get(field) in (None, seen, mine):
            kept[field] = value  # nobody else changed it (or changed it to this very value)
        elif mine != seen:
            clashes.append(field)
    if clashes:
        raise SettingsChangedSince(_clash_message(project, clashes), fields=clashes)
    return kept


def reopened(project: Project, opened: dict[str, str], fields: list[str]) -> dict[str, str]:
    """The page's fingerprints with those of `fields` as they are now: saving again replaces
    another lead's value of those settings only."""
    now = settings_fingerprints(project)
    return {**opened, **{field: now[field] for field in fields}}


def _clash_message(project: Project, fields: list[str]) -> str:
    named = "; ".join(f"{_name(field)} (now: {_shown(field, getattr(project, field))})" for field in fields)
    return (
        f"Another lead saved changes to these settings since you opened this page: {named}. "
        "Reload the page to start from theirs, or save again to replace them with yours."
    )


def _name(field: str) -> str:
    return SHOWN_NAMES.get(field, field.replace("_", " "))


def _shown(field: str, value: Any) -> str:
    if field in SHARES:
        text = f"{value * 100:g}%"
    elif isinstance(value, list):
        text = ", ".join(map(str, value))
    elif isinstance(value, dict):
        text = json.dumps(value, ensure_ascii=False)
    elif isinstance(value, bool):
        text = "on" if value else "off"
    else:
        text = str(value if value is not None else "")
    if not text:
        return "empty"
    return text if len(text) <= SHOWN_CHARACTERS else text[: SHOWN_CHARACTERS - 1] + "…"


def _fingerprint(value: Any) -> str:
    return hashlib.sha256(json.dumps(_plain(value), sort_keys=True, default=str).encode()).hexdigest()[:16]


def _plain(value: Any) -> Any:
    """Floats to eight places (a share shown as a percentage to six comes back a rounding away)
    and line breaks as LF (a browser sends CR LF; the services store LF)."""
    if isinstance(value, float):
        return round(value, 8)
    if isinstance(value, str):
        return value.replace("\r\n", "\n")
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return value
