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

import torch

from curation.dedup.embeddings import length_batches
from training import modeling
from training.prompts import STOP, Messages, prompt_text, uses_chat_template

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
    templated = uses_chat_template(tokenizer)
    prompts = [prompt_text(tokenizer, conversation) for conversation in conversations]
    lengths = (
        [len(ids) + new_tokens for ids in tokenizer(prompts, add_special_tokens=not templated)["input_ids"]]
        if prompts
        else []
    )
    results = [""] * len(prompts)
    tokenizer.padding_side = "left"
    done = 0
    for batch in length_batches(lengths, batch_tokens):
        rows = [int(row) for row in batch]
        for row, text in zip(
            rows, _generate(model, tokenizer, [prompts[row] for row in rows], new_tokens), strict=True
        ):
            results[row] = text if templated else text.split(STOP)[0]
        done += len(rows)
        progress(done)
    return results


def _generate(model: Any, tokenizer: Any, prompts: list[str], new_tokens: int) -> list[str]:
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
        )
    generated = output[:, batch["input_ids"].shape[1] :]
    # PostgreSQL text holds no NUL
    return [tokenizer.decode(ids, skip_special_tokens=True).replace("\x00", "\ufffd") for ids in generated]
