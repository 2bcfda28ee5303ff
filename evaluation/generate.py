"""Batched greedy generation for evaluation (torch, transformers, peft; no Django).

Prompts are rendered by `training.prompts.prompt_text`, the very function training used, and
generated greedily in batches of similar length, padded on the left so every answer starts
right after its prompt. A batch is bounded by tokens, not by a count: rows times its longest
prompt plus the new tokens stay within `batch_tokens` (a longer prompt goes alone), so one long
item never pads a whole batch to its length. Items too long for the model never get here: the
caller leaves them out by training's length rule (`training.preflight.too_long`). With the plain
prompt format an answer ends at the next block header (`training.prompts.STOP`), which a model
that never learned to stop would otherwise run into.

This is the `transformers` engine (evaluation.engines). The token ids a prompt becomes
(`prompt_ids`), where an answer ends (`end_token_ids`), how its text is read back (`reply`) and
its mean log-probability (`mean_logprob`) are shared with the vLLM engine, so both answer the same
prompts by the same rules.
"""

from __future__ import annotations

import copy
import functools
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from curation.dedup.embeddings import length_batches
from training import modeling
from training.prompts import IGNORE, STOP, Messages, encode, prompt_text, uses_chat_template

MAX_NEW_TOKENS_CAP = 1024


def load(base_model: str, adapter: Path | None, dtype: torch.dtype | None = None) -> tuple[Any, Any]:
    """The model to evaluate (base, or base + adapter) in eval mode, and its tokenizer; `dtype`
    overrides the device's compute precision."""
    on = modeling.device()
    tokenizer = modeling.tokenizer_load(base_model)
    model = modeling.base_load(base_model, on, dtype)
    if adapter is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, str(adapter))
    return model.eval(), tokenizer


def max_new_tokens(tokenizer: Any, references: list[str]) -> int:
    """Room for the longest reference answer, a quarter more, and the end token."""
    longest = max(
        (len(tokenizer(text, add_special_tokens=False)["input_ids"]) for text in references), default=1
    )
    return min(MAX_NEW_TOKENS_CAP, longest + max(8, longest // 4) + 1)


def answers(
    model: Any,
    tokenizer: Any,
    conversations: list[Messages],
    new_tokens: int,
    progress: Callable[[int], None] = lambda done: None,
    *,
    batch_tokens: int,
) -> list[str]:
    """The model's answer to each conversation, in order, in batches of at most `batch_tokens`
    (prompt and answer, padded)."""
    scored = scored_answers(model, tokenizer, conversations, new_tokens, progress, batch_tokens=batch_tokens)
    return [text for text, _ in scored]


def scored_answers(
    model: Any,
    tokenizer: Any,
    conversations: list[Messages],
    new_tokens: int,
    progress: Callable[[int], None] = lambda done: None,
    *,
    batch_tokens: int,
) -> list[tuple[str, float]]:
    """Each answer with the mean log-probability of its tokens (up to where it ends). `progress`
    gets the answers done after each batch, and the same count after each generated token: a
    batch of a real model can take a minute on a CPU, and a progress that raises (a cancel) ends
    it at once."""
    prompts = [prompt_text(tokenizer, conversation) for conversation in conversations]
    lengths = [len(ids) + new_tokens for ids in _tokenized(tokenizer, prompts)]
    results: list[tuple[str, float]] = [("", 0.0)] * len(prompts)
    tokenizer.padding_side = "left"
    done = 0
    for batch in length_batches(lengths, batch_tokens):
        rows = [int(row) for row in batch]
        each_step = _EachStep(functools.partial(progress, done))
        generated = _generate(model, tokenizer, [prompts[row] for row in rows], new_tokens, each_step)
        for row, scored in zip(rows, generated, strict=True):
            results[row] = scored
        done += len(rows)
        progress(done)
    return results


def prompt_ids(tokenizer: Any, conversations: list[Messages]) -> list[list[int]]:
    """The token ids each engine is given: Finch's rendering (`prompt_text`), tokenized as
    training tokenized it (special tokens added unless a chat template put them in the text)."""
    return _tokenized(tokenizer, [prompt_text(tokenizer, conversation) for conversation in conversations])


def _tokenized(tokenizer: Any, prompts: list[str]) -> list[list[int]]:
    if not prompts:
        return []
    templated = uses_chat_template(tokenizer)
    return [list(ids) for ids in tokenizer(prompts, add_special_tokens=not templated)["input_ids"]]


def end_token_ids(tokenizer: Any, generation_config: Any) -> list[int]:
    """Where an answer ends: the tokenizer's end token and any the model's generation config names
    (an instruct model may end a turn with either), as vLLM stops too."""
    configured = getattr(generation_config, "eos_token_id", None)
    named = [configured] if isinstance(configured, int) else list(configured or [])
    return sorted({tokenizer.eos_token_id, *named} - {None})


def reply(tokenizer: Any, ids: list[int]) -> str:
    """An answer's text from its generated token ids, read the same whichever engine made them:
    special tokens dropped, and with the plain format cut before the next block header."""
    # PostgreSQL text holds no NUL
    text = tokenizer.decode(ids, skip_special_tokens=True).replace("\x00", "\ufffd")
    return text if uses_chat_template(tokenizer) else text.split(STOP)[0]


def mean_logprob(ids: list[int], logprobs: list[float], ends: set[int]) -> float:
    """The mean log-probability of an answer's tokens, its end token included, what follows it
    (padding in a batch) left out."""
    kept = len(ids)
    for position, token in enumerate(ids):
        if token in ends:
            kept = position + 1
            break
    values = [value for value in logprobs[:kept] if math.isfinite(value)]
    return sum(values) / len(values) if values else 0.0


class _EachStep:
    """A stopping criterion that never stops generation itself: it calls `hook` after every
    generated token, so that a hook that raises ends a long batch between two tokens."""

    def __init__(self, hook: Callable[[], None]) -> None:
        self.hook = hook

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor, **kwargs: Any) -> torch.Tensor:
        self.hook()
        return torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)


def _generate(
    model: Any, tokenizer: Any, prompts: list[str], new_tokens: int, each_step: _EachStep | None = None
) -> list[tuple[str, float]]:
    device = next(model.parameters()).device
    batch = tokenizer(
        prompts, add_special_tokens=not uses_chat_template(tokenizer), padding=True, return_tensors="pt"
    ).to(device)
    ends = end_token_ids(tokenizer, model.generation_config)
    with torch.no_grad():
        output = model.generate(
            **batch,
            max_new_tokens=new_tokens,
            do_sample=False,
            # Plain greedy, as vLLM's: no penalty a model's generation config may ask for.
            repetition_penalty=1.0,
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=ends,
            output_scores=True,
            return_dict_in_generate=True,
            stopping_criteria=[each_step] if each_step is not None else None,
        )
    generated = output.sequences[:, batch["input_ids"].shape[1] :]
    logprobs = model.compute_transition_scores(output.sequences, output.scores, normalize_logits=True)
    stops = {*ends, tokenizer.pad_token_id} - {None}
    return [
        (reply(tokenizer, ids.tolist()), mean_logprob(ids.tolist(), row.float().tolist(), stops))
        for ids, row in zip(generated, logprobs, strict=True)
    ]


def label_probabilities(
    model: Any,
    tokenizer: Any,
    conversations: list[Messages],
    labels: list[str],
    progress: Callable[[int], None] = lambda done: None,
    *,
    batch_tokens: int,
) -> np.ndarray:
    """For each conversation, the probability of each label being the answer: the log-likelihood
    of the label's tokens and the end token after the prompt, as training renders the pair,
    normalized over the label set (rows: conversations, columns: labels). A suggestion taken from
    it is always one of the labels.

    Every label follows the same prompt, so the prompt is run once (a batch of prompts of about
    one length) and its key/value cache serves each label's tokens: a forward pass over the
    labels' few tokens instead of prompt and label for every pair."""
    if not conversations or not labels:
        return np.zeros((len(conversations), len(labels)))
    prompts, answers = _pairs(tokenizer, conversations, labels)
    longest_answer = max((len(ids) for row in answers for ids in row), default=1)
    loglik = np.zeros((len(conversations), len(labels)))
    done = 0
    for batch in length_batches([len(ids) + longest_answer for ids in prompts], batch_tokens):
        rows = [int(row) for row in batch]
        loglik[rows] = _prompt_logliks(
            model, tokenizer, [prompts[row] for row in rows], [answers[row] for row in rows], batch_tokens
        )
        done += len(rows)
        progress(done)
    loglik -= loglik.max(axis=1, keepdims=True)
    probabilities = np.exp(loglik)
    return probabilities / probabilities.sum(axis=1, keepdims=True)


def _pairs(
    tokenizer: Any, conversations: list[Messages], labels: list[str]
) -> tuple[list[list[int]], list[list[list[int]]]]:
    """Each conversation's prompt tokens, and each label's answer tokens after it (end token
    included), split from `encode` as training renders the pair. Without a chat template the
    answer is the label alone, the same after every prompt: tokenized once per label."""

    def split(conversation: Messages, label: str) -> tuple[list[int], list[int]]:
        encoded = encode(tokenizer, [*conversation, {"role": "assistant", "content": label}])
        start = len(encoded.labels) - sum(token != IGNORE for token in encoded.labels)
        return encoded.input_ids[:start], encoded.input_ids[start:]

    prompts = [split(conversation, labels[0])[0] for conversation in conversations]
    if not uses_chat_template(tokenizer):
        shared = [split(conversations[0], label)[1] for label in labels]
        return prompts, [shared] * len(conversations)
    return prompts, [[split(conversation, label)[1] for label in labels] for conversation in conversations]


def _prompt_logliks(
    model: Any, tokenizer: Any, prompts: list[list[int]], answers: list[list[list[int]]], batch_tokens: int
) -> np.ndarray:
    """Each prompt's answers' log-likelihoods (rows: prompts, columns: answers). The prompts run
    once, padded on the left; then (prompt, answer) pairs, at most `batch_tokens` of cache and
    answer tokens a pass, continue from a copy of their prompt's cache."""
    device = next(model.parameters()).device
    width = max(len(ids) for ids in prompts)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    input_ids = torch.tensor([[pad] * (width - len(ids)) + ids for ids in prompts], device=device)
    mask = torch.tensor([[0] * (width - len(ids)) + [1] * len(ids) for ids in prompts], device=device)
    with torch.no_grad():
        out = model(
            input_ids=input_ids,
            attention_mask=mask,
            position_ids=(mask.cumsum(dim=-1) - 1).clamp(min=0),  # as if unpadded
            use_cache=True,
            logits_to_keep=1,
        )
    first = torch.log_softmax(out.logits[:, -1].float(), dim=-1)  # the answer's first token
    pairs = [(row, column) for row, row_answers in enumerate(answers) for column in range(len(row_answers))]
    pairs.sort(key=lambda pair: len(answers[pair[0]][pair[1]]))  # a pass pads to its longest answer
    span = max(len(ids) for row_answers in answers for ids in row_answers)
    per_pass = max(1, batch_tokens // (width + span))
    scores = np.zeros((len(prompts), len(answers[0])))
    for start in range(0, len(pairs), per_pass):
        chunk = pairs[start : start + per_pass]
        chunk_answers = [answers[row][column] for row, column in chunk]
        sums = _answer_logliks(model, out.cache, mask, first, [row for row, _ in chunk], chunk_answers, pad)
        for (row, column), value in zip(chunk, sums, strict=True):
            scores[row, column] = value
    return scores


def _answer_logliks(
    model: Any,
    cache: Any,
    prompt_mask: torch.Tensor,
    first: torch.Tensor,
    rows: list[int],
    answers: list[list[int]],
    pad: int,
) -> list[float]:
    """Sum of each answer's token log-probabilities after its prompt (`rows`: the prompt of each
    answer in the cached batch; `first`: each prompt's log-probabilities of the next token).
    Answers are padded on the right, where nothing before them can see the padding."""
    device = prompt_mask.device
    span = max(len(ids) for ids in answers)
    index = torch.tensor(rows, device=device)
    tokens = torch.tensor([ids + [pad] * (span - len(ids)) for ids in answers], device=device)
    real = torch.tensor([[1] * len(ids) + [0] * (span - len(ids)) for ids in answers], device=device)
    prefix = prompt_mask[index]
    positions = prefix.sum(dim=-1, keepdim=True) + torch.arange(span, device=device)
    pair_cache = copy.deepcopy(cache)  # a pass appends the answers to the cache it is given
    pair_cache.batch_select_indices(index)
    picked = first[index].gather(-1, tokens[:, :1]).squeeze(-1)
    if span > 1:
        with torch.no_grad():
            logits = model(
                input_ids=tokens[:, :-1],
                attention_mask=torch.cat([prefix, real[:, :-1]], dim=-1),
                position_ids=positions[:, :-1],
                cache=pair_cache,
                use_cache=True,
            ).logits
        following = (
            torch.log_softmax(logits.float(), dim=-1).gather(-1, tokens[:, 1:].unsqueeze(-1)).squeeze(-1)
        )
        picked = picked + (following * real[:, 1:]).sum(dim=-1)
    return picked.tolist()
