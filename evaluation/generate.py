"""Batched greedy generation for evaluation (torch, transformers, peft; no Django).

Prompts are rendered by `training.prompts.prompt_text`, the very function training used, and
generated greedily in batches of similar length, padded on the left so every answer starts
right after its prompt. A batch is bounded by tokens, not by a count: rows times its longest
prompt plus the new tokens stay within `batch_tokens` (a longer prompt goes alone), so one long
item never pads a whole batch to its length. Items too long for the model never get here: the
caller leaves them out by training's length rule (`training.preflight.too_long`). With the plain prompt format an answer ends at the next block header
(`training.prompts.STOP`), which a model that never learned to stop would otherwise run into.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from curation.dedup.embeddings import length_batches
from training import modeling
from training.prompts import IGNORE, STOP, Messages, encode, prompt_text, uses_chat_template

MAX_NEW_TOKENS_CAP = 1024


def load(base_model: str, adapter: Path | None) -> tuple[Any, Any]:
    """The model to evaluate (base, or base + adapter) in eval mode, and its tokenizer."""
    on = modeling.device()
    tokenizer = modeling.tokenizer_load(base_model)
    model = modeling.base_load(base_model, on)
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
    """Each answer with the mean log-probability of its tokens (up to where it ends)."""
    templated = uses_chat_template(tokenizer)
    prompts = [prompt_text(tokenizer, conversation) for conversation in conversations]
    lengths = (
        [len(ids) + new_tokens for ids in tokenizer(prompts, add_special_tokens=not templated)["input_ids"]]
        if prompts
        else []
    )
    results: list[tuple[str, float]] = [("", 0.0)] * len(prompts)
    tokenizer.padding_side = "left"
    done = 0
    for batch in length_batches(lengths, batch_tokens):
        rows = [int(row) for row in batch]
        generated = _generate(model, tokenizer, [prompts[row] for row in rows], new_tokens)
        for row, (text, mean_logprob) in zip(rows, generated, strict=True):
            results[row] = (text if templated else text.split(STOP)[0], mean_logprob)
        done += len(rows)
        progress(done)
    return results


def _generate(model: Any, tokenizer: Any, prompts: list[str], new_tokens: int) -> list[tuple[str, float]]:
    device = next(model.parameters()).device
    batch = tokenizer(
        prompts, add_special_tokens=not uses_chat_template(tokenizer), padding=True, return_tensors="pt"
    ).to(device)
    with torch.no_grad():
        output = model.generate(
            **batch,
            max_new_tokens=new_tokens,
            do_sample=False,
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.eos_token_id,
            output_scores=True,
            return_dict_in_generate=True,
        )
    generated = output.sequences[:, batch["input_ids"].shape[1] :]
    logprobs = model.compute_transition_scores(output.sequences, output.scores, normalize_logits=True)
    return [
        # PostgreSQL text holds no NUL
        (
            tokenizer.decode(ids, skip_special_tokens=True).replace("\x00", "\ufffd"),
            _mean_up_to_end(ids, row, tokenizer),
        )
        for ids, row in zip(generated, logprobs, strict=True)
    ]


def _mean_up_to_end(ids: torch.Tensor, logprobs: torch.Tensor, tokenizer: Any) -> float:
    """The mean log-probability of an answer's tokens, its end token included, padding after it
    left out."""
    ends = {tokenizer.eos_token_id, tokenizer.pad_token_id} - {None}
    kept = len(ids)
    for position, token in enumerate(ids.tolist()):
        if token in ends:
            kept = position + 1
            break
    values = logprobs[:kept].float()
    values = values[torch.isfinite(values)]
    return float(values.mean()) if len(values) else 0.0


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
    it is always one of the labels."""
    encoded = [
        encode(tokenizer, [*conversation, {"role": "assistant", "content": label}])
        for conversation in conversations
        for label in labels
    ]
    loglik = np.zeros(len(encoded))
    done = 0
    for batch in length_batches([len(e.input_ids) for e in encoded], batch_tokens):
        rows = [int(row) for row in batch]
        loglik[rows] = _answer_logliks(model, tokenizer, [encoded[row] for row in rows])
        done += len(rows)
        progress(done // max(len(labels), 1))
    scores = loglik.reshape(len(conversations), len(labels))
    scores -= scores.max(axis=1, keepdims=True)
    probabilities = np.exp(scores)
    return probabilities / probabilities.sum(axis=1, keepdims=True)


def _answer_logliks(model: Any, tokenizer: Any, rows: list[Any]) -> list[float]:
    """Sum of the answer tokens' log-probabilities for each encoded pair. Padded on the left, so
    every answer ends at the last position and only the last positions' logits are computed."""
    device = next(model.parameters()).device
    width = max(len(row.input_ids) for row in rows)
    answer_span = max(sum(label != IGNORE for label in row.labels) for row in rows)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    input_ids = torch.tensor([[pad] * (width - len(r.input_ids)) + r.input_ids for r in rows], device=device)
    mask = torch.tensor(
        [[0] * (width - len(r.input_ids)) + [1] * len(r.input_ids) for r in rows], device=device
    )
    targets = torch.tensor([[IGNORE] * (width - len(r.labels)) + r.labels for r in rows], device=device)
    positions = (mask.cumsum(dim=-1) - 1).clamp(min=0)  # as if unpadded
    with torch.no_grad():
        logits = model(
            input_ids=input_ids, attention_mask=mask, position_ids=positions, logits_to_keep=answer_span + 1
        ).logits
    # logits[:, i] predicts the token after position (width - answer_span - 1 + i)
    predicted = torch.log_softmax(logits[:, :-1].float(), dim=-1)
    wanted = targets[:, width - answer_span :]
    picked = predicted.gather(-1, wanted.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    return (picked * (wanted != IGNORE)).sum(dim=-1).tolist()
