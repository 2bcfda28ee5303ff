"""What people did with a model suggestion, one rule for every place that records it: the label
page and the API (an answer in the labeling queue), the example made from a group of answers
(curation.services.labeling_outcomes) and a draft given its output on the example page or by
PATCH (curation.services.examples).

The use of a suggestion by an answer, both in stored form (use_of):
- accepted: the answer equals the suggestion (the same label; the same JSON value; the same text
  after trimming);
- classification: any other label replaced it;
- extraction: edited when the answer keeps at least half of the suggestion's top-level fields
  with equal values, else replaced (a suggestion that is not a JSON object can only be replaced);
- generation and chat: edited when the texts are similar (difflib's SequenceMatcher ratio of at
  least EDITED_SIMILARITY), else replaced;
- unseen: the annotator answered without seeing it (the blind sample below), whatever they said.

The blind sample: a seeded share (`project.suggestion_blind_share`) of queued inputs whose
suggestion an annotator sees only after answering, so that how often the model is right is
measured without the suggestion steering the answer. It uses the overlap sample's hash-window
rule (curation.services.overlap_sample) with its own salt over a salted rehash of the input
hash: the same seed (`project.labeling_sample_seed`) always picks the same inputs, and being in
one sample says nothing about being in the other.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher
from typing import Any

from curation.errors import InvalidInput
from curation.models import (
    AssignmentState,
    Example,
    ItemStatus,
    JobStatus,
    LabelingAssignment,
    LabelingItem,
    Project,
    Suggestion,
    SuggestionUse,
    TaskType,
)
from curation.prepared_sql import fetch_rows
from curation.services.content import answer_key
from curation.services.overlap_sample import in_sample

EDITED_SIMILARITY = 0.5  # generation and chat: a ratio at least this is an edit, below a replacement
BLIND_SALT = "finch-suggestion-blind"


# -- the rule ------------------------------------------------------------------------------------


def use_of(task_type: str, suggestion_output: str, answer_output: str) -> SuggestionUse:
    """What an answer did with a suggestion it was shown (both in stored form): accepted, edited
    or replaced, by the rule in the module's docstring."""
    if answer_key(task_type, suggestion_output) == answer_key(task_type, answer_output):
        return SuggestionUse.ACCEPTED
    if task_type == TaskType.EXTRACTION:
        return (
            SuggestionUse.EDITED if _fields_kept(suggestion_output, answer_output) else SuggestionUse.REPLACED
        )
    if task_type in (TaskType.GENERATION, TaskType.CHAT):
        similar = SequenceMatcher(None, suggestion_output.strip(), answer_output.strip()).ratio()
        return SuggestionUse.EDITED if similar >= EDITED_SIMILARITY else SuggestionUse.REPLACED
    return SuggestionUse.REPLACED


def _fields_kept(suggestion_output: str, answer_output: str) -> bool:
    """Whether the answer keeps at least half of the suggestion's top-level fields, unchanged."""
    suggested, answered = _json_object(suggestion_output), _json_object(answer_output)
    if not suggested or answered is None:
        return False
    kept = sum(1 for key, value in suggested.items() if key in answered and answered[key] == value)
    return 2 * kept >= len(suggested)


def _json_object(text: str) -> dict[str, Any] | None:
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def suggestion_blind(project: Project, input_hash: str) -> bool:
    """Whether the input's suggestion is shown only after answering (the project's blind sample)."""
    share = project.suggestion_blind_share
    if share <= 0:
        return False
    rehashed = hashlib.sha256(f"{BLIND_SALT}:{input_hash}".encode()).hexdigest()
    return in_sample(rehashed, share, project.labeling_sample_seed, salt=BLIND_SALT)


# -- reading suggestions -------------------------------------------------------------------------


def latest_suggestion(
    *, item: LabelingItem | None = None, example: Example | None = None
) -> Suggestion | None:
    """The suggestion of the latest succeeded run for a queued item or a draft, with its run.

    Every answer and every label page asks, and most items have none: the id is looked up in
    one plain query first, and the suggestion loaded only when there is one (the run without
    its list of targets, which may hold thousands of ids)."""
    column, target = ("item_id", item) if item is not None else ("example_id", example)
    rows = fetch_rows(LATEST_SQL.format(column=column), [getattr(target, "pk", None), JobStatus.SUCCEEDED])
    if not rows:
        return None
    return Suggestion.objects.select_related("run").defer(*HEAVY_RUN_FIELDS).get(pk=rows[0]["id"])


# The succeeded suggestions of one item or draft (`{column}`: item_id or example_id); its
# parameters: the item's or draft's id, then JobStatus.SUCCEEDED.
SUCCEEDED_SUGGESTIONS_SQL = (
    f"FROM {Suggestion._meta.db_table} suggestion"
    f" JOIN {Suggestion._meta.get_field('run').related_model._meta.db_table} run"  # type: ignore[union-attr]
    " ON run.id = suggestion.run_id WHERE suggestion.{column} = %s AND run.status = %s"
)
LATEST_SQL = f"SELECT suggestion.id {SUCCEEDED_SUGGESTIONS_SQL} ORDER BY suggestion.run_id DESC LIMIT 1"
HEAVY_RUN_FIELDS = ("run__target_ids", "run__prompt_card", "run__environment", "run__traceback")


def shown_suggestion(item: LabelingItem) -> Suggestion | None:
    """The suggestion the label page and the API show for an item before it is answered: its
    latest, unless the item is in the blind sample."""
    if suggestion_blind(item.project, item.input_hash):
        return None
    return latest_suggestion(item=item)


def visible_suggestion(item: LabelingItem, user: Any) -> Suggestion | None:
    """The item's latest suggestion as `user` may see it: for an item of the blind sample, only
    once they answered it or the item is labeled."""
    if not suggestion_blind(item.project, item.input_hash) or item.status != ItemStatus.QUEUED:
        return latest_suggestion(item=item)
    answered = LabelingAssignment.objects.filter(
        item=item, annotator_id=getattr(user, "pk", None), state=AssignmentState.SUBMITTED
    )
    return latest_suggestion(item=item) if answered.exists() else None


# What the label page posts as its suggestion when it showed none.
NONE_SHOWN = "none"


def item_suggestion(item: LabelingItem, suggestion_id: Any) -> Suggestion | None:
    """The suggestion an answer is measured against: the one named (the one the page showed),
    else the item's latest. InvalidInput unless the one named is a suggestion of this item from
    a succeeded run."""
    if suggestion_id is None or suggestion_id == "":
        return latest_suggestion(item=item)
    try:
        wanted = int(suggestion_id)
    except (TypeError, ValueError):
        wanted = None
    found = (
        Suggestion.objects.filter(pk=wanted, item=item, run__status=JobStatus.SUCCEEDED) if wanted else None
    )
    suggestion = found.select_related("run").defer(*HEAVY_RUN_FIELDS).first() if found is not None else None
    if suggestion is None:
        raise InvalidInput(
            f"suggestion {suggestion_id!r} is not a suggestion of item {item.pk} from a finished "
            "suggestion run; send the id the item showed, or none.",
            field="suggestion",
        )
    return suggestion


# -- recording -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Use:
    """A suggestion, whether it was seen before answering, and what the answer did with it."""

    suggestion: Suggestion | None
    shown: bool
    use: str  # a SuggestionUse, or "" without a suggestion


NO_SUGGESTION = Use(None, False, "")


def answer_use(
    item: LabelingItem, suggestion: Suggestion | None, stored_output: str, *, shown: bool = True
) -> Use:
    """How an answer to a queued item used its suggestion: unseen for the blind sample, and
    where the page showed none (`shown` False: a run finished while the card was open)."""
    if suggestion is None:
        return NO_SUGGESTION
    if not shown or suggestion_blind(item.project, item.input_hash):
        return Use(suggestion, False, SuggestionUse.UNSEEN)
    return Use(suggestion, True, use_of(item.project.task_type, suggestion.output, stored_output))


def submitted_use(item: LabelingItem, suggestion_id: Any, stored_output: str) -> Use:
    """What an answer did with the suggestion its page showed: `suggestion_id` names it, is
    NONE_SHOWN where the page showed none, or is empty (an API caller: the item's latest)."""
    if suggestion_id == NONE_SHOWN:
        return answer_use(item, latest_suggestion(item=item), stored_output, shown=False)
    return answer_use(item, item_suggestion(item, suggestion_id), stored_output)


def example_use(task_type: str, output: str, answers: Sequence[LabelingAssignment]) -> Use:
    """The use recorded on an example made from a group of agreeing answers (their suggestions
    loaded): accepted if someone who saw the suggestion answered it unchanged and the output
    equals it; else edited or replaced as the first answer that saw it; unseen when nobody saw
    it; none without a suggestion."""
    with_one = [answer for answer in answers if answer.suggestion is not None]
    if not with_one:
        return NO_SUGGESTION
    seen = [answer for answer in with_one if answer.suggestion_shown]
    if not seen:
        return Use(with_one[0].suggestion, False, SuggestionUse.UNSEEN)
    for answer in seen:
        suggestion = answer.suggestion
        assert suggestion is not None  # filtered above
        accepted = answer.suggestion_use == SuggestionUse.ACCEPTED
        if accepted and use_of(task_type, suggestion.output, output) == SuggestionUse.ACCEPTED:
            return Use(suggestion, True, SuggestionUse.ACCEPTED)
    first = seen[0].suggestion
    assert first is not None
    return Use(first, True, use_of(task_type, first.output, output))


def draft_use(example: Example, output_before: str, new_output: str) -> Use:
    """How a draft without output used its suggestion when it gets one (the example page shows
    it pre-filled, so it counts as seen); none when it had an output already, gets none, or
    has no suggestion."""
    if output_before or not new_output:
        return NO_SUGGESTION
    suggestion = latest_suggestion(example=example)
    if suggestion is None:
        return NO_SUGGESTION
    return Use(suggestion, True, use_of(example.project.task_type, suggestion.output, new_output))


# -- showing -------------------------------------------------------------------------------------


def confidence_text(task_type: str, suggestion: Suggestion) -> str:
    """The confidence as people read it: a label's probability as a percentage, else the answer's
    mean token log-probability."""
    if task_type == TaskType.CLASSIFICATION:
        return f"{suggestion.confidence:.0%}"
    return f"mean log-prob {suggestion.confidence:.2f}"
