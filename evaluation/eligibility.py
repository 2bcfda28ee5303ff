"""Which eval items a run puts to the model, and what a failed run tells its users.

Training leaves out an example longer than `max_seq_length` (training.preflight.too_long);
evaluation applies that very rule to each eval item as training encodes it (its conversation
with the reference answer, without few-shot turns), so an item the model could not hold is
reported as skipped with its reason and never loaded, and a baseline and a tuned run with the
same `max_seq_length` (the default unless the run's training set another) skip the same items.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from curation.errors import ApplicationError
from curation.freeze.formats import Item, Rendering, chat_messages
from evaluation.engines import EngineUnavailable
from evaluation.models import EvalRun
from training.hyperparameters import HYPERPARAMETER_DEFAULTS
from training.preflight import PreflightError, too_long
from training.prompts import encode


class EvaluationFailed(Exception):
    """The run cannot finish; the message says why and what to change."""


@dataclass
class Eligible:
    items: list[Item] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)  # {"example_id", "reason"}


def max_seq_length(run: EvalRun) -> int:
    """The length rule's limit: the tuned run's training setting, else the default a training run
    gets."""
    settings = run.training_run.hyperparameters if run.training_run is not None else {}
    return int(settings.get("max_seq_length") or HYPERPARAMETER_DEFAULTS["max_seq_length"])


def by_length(tokenizer: Any, items: list[Item], rendering: Rendering, limit: int) -> Eligible:
    """The items that fit `limit` tokens, in order, and those that do not, each with its reason."""
    found = Eligible()
    for item in items:
        reason = too_long(encode(tokenizer, chat_messages(item, rendering)), limit)
        if reason is None:
            found.items.append(item)
        else:
            found.skipped.append({"example_id": item.example_id, "reason": reason})
    return found


def eligible(tokenizer: Any, items: list[Item], rendering: Rendering, limit: int) -> Eligible:
    """by_length, refusing a run that would put no item to the model."""
    found = by_length(tokenizer, items, rendering, limit)
    if not found.items:
        raise EvaluationFailed(
            f"Every one of the {len(items)} eval items is longer than max_seq_length={limit} tokens "
            "(training's length rule): there is nothing the model can be asked. Shorten them, or "
            "train (and evaluate) with a larger max_seq_length."
        )
    return found


def failure_message(exc: BaseException, run: EvalRun) -> str:
    """What the leaderboard and the API say about a failed run: the message of a refusal Finch
    made, else a plain sentence (the raw error and its traceback go to the worker's log only)."""
    if isinstance(exc, ApplicationError | PreflightError | EvaluationFailed | EngineUnavailable):
        return str(exc)
    if _out_of_memory(exc):
        return (
            "The model ran out of memory while answering the eval items. Lower FINCH_EVAL_BATCH_TOKENS "
            "(tokens per generation batch) or the run's max_seq_length, or evaluate on a machine with "
            f"more memory; the worker's log has the details of eval run {run.pk}."
        )
    return (
        f"Evaluation stopped on an unexpected error ({type(exc).__name__}); the worker's log has the "
        f"details of eval run {run.pk}."
    )


def _out_of_memory(exc: BaseException) -> bool:
    if isinstance(exc, MemoryError) or type(exc).__name__ == "OutOfMemoryError":  # torch.cuda's
        return True
    text = str(exc).lower()
    return "out of memory" in text or "can't allocate memory" in text or "cannot allocate memory" in text
