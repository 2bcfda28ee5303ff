"""Checks before any GPU time is spent: each failure names the problem and how to fix it.

- a tokenizer without an end-of-sequence token (the model could never learn to stop);
- examples with an empty output (nothing to learn but stopping at once);
- examples longer than `max_seq_length`: left out of training (a cut answer without its end
  token teaches the model to ramble), counted, and the run fails when more than
  `max_truncated_fraction` of the train split would be left out. Evaluation leaves out the
  same eval items by the same rule (`too_long`), so a run is never handed one it cannot hold;
- no train example left with a supervised token.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from training.prompts import Encoded, Messages, encode, uses_chat_template


class PreflightError(Exception):
    """The run cannot train as configured; the message says why and what to change."""


@dataclass
class Prepared:
    train: list[Encoded]
    eval: list[Encoded]
    report: dict[str, Any] = field(default_factory=dict)


def prepare(
    tokenizer: Any,
    train: Iterable[Messages],
    evaluation: Iterable[Messages],
    *,
    max_seq_length: int,
    max_truncated_fraction: float,
) -> Prepared:
    """Tokenized train and eval examples that fit, and a report of what the checks found."""
    if tokenizer.eos_token_id is None:
        raise PreflightError(
            "The tokenizer has no end-of-sequence token, so the model could never learn where an "
            "answer ends. Set eos_token in the tokenizer's configuration."
        )
    train_kept, train_report = _split(tokenizer, train, max_seq_length)
    eval_kept, eval_report = _split(tokenizer, evaluation, max_seq_length)
    report = {
        "prompt_format": "chat_template" if uses_chat_template(tokenizer) else "plain",
        "max_seq_length": max_seq_length,
        "train": train_report,
        "eval": eval_report,
    }
    _check(train_report, eval_report, max_seq_length, max_truncated_fraction)
    return Prepared(train_kept, eval_kept, report)


def too_long(encoded: Encoded, max_seq_length: int) -> str | None:
    """Why an example is left out for its length (None: it fits): its prompt, answer and end
    token are more than `max_seq_length` tokens. Training's rule, and evaluation's."""
    tokens = len(encoded.input_ids)
    if tokens <= max_seq_length:
        return None
    return f"{tokens} tokens, longer than max_seq_length={max_seq_length}"


def _split(
    tokenizer: Any, conversations: Iterable[Messages], limit: int
) -> tuple[list[Encoded], dict[str, Any]]:
    kept: list[Encoded] = []
    total = empty = left_out = longest = 0
    for messages in conversations:
        total += 1
        if not messages[-1]["content"].strip():
            empty += 1
            continue
        encoded = encode(tokenizer, messages)
        longest = max(longest, len(encoded.input_ids))
        if too_long(encoded, limit):
            left_out += 1
            continue
        if encoded.supervised:
            kept.append(encoded)
    report = {
        "examples": total,
        "kept": len(kept),
        "empty_outputs": empty,
        "truncated": left_out,
        "longest_tokens": longest,
        "tokens": sum(len(item.input_ids) for item in kept),
        "supervised_tokens": sum(item.supervised for item in kept),
    }
    return kept, report


def _check(train: dict[str, Any], evaluation: dict[str, Any], limit: int, max_fraction: float) -> None:
    empty = train["empty_outputs"] + evaluation["empty_outputs"]
    if empty:
        raise PreflightError(
            f"{empty} example(s) have an empty output; give them an answer or leave them out of the version."
        )
    if train["examples"] and train["truncated"] / train["examples"] > max_fraction:
        raise PreflightError(
            f"{train['truncated']} of {train['examples']} train examples are longer than "
            f"max_seq_length={limit} tokens (the longest has {train['longest_tokens']}), more than "
            f"max_truncated_fraction={max_fraction:g} allows. Raise max_seq_length or shorten them."
        )
    if not train["supervised_tokens"]:
        raise PreflightError(
            "No train example is left with a supervised token: there is nothing to learn from. "
            "Check that the version's train split has outputs that fit within max_seq_length."
        )
