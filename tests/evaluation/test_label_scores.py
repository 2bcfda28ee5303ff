"""Label probabilities (evaluation.generate.label_probabilities) with the prompt run once and its
cache reused for every label: the same as scoring each (prompt, label) pair alone, whole and
unpadded, whether conversations are batched or asked one at a time, with or without a chat
template. On the CPU with the tiny model."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from evaluation import generate
from training.prompts import IGNORE, Messages, encode

SYSTEM = {"role": "system", "content": "Classify the banking message into one intent."}
TEXTS = [
    "My card still has not arrived",
    "What exchange rate do you use for a transfer from euros to pounds this week?",
    "lost it",
    "Someone stole my card last night and I need a new one sent to my address",
]
# Labels of different token lengths, so that answers are padded within a pass.
LABELS = ["card_arrival", "exchange_rate", "lost_or_stolen_card", "x", "pending_top_up_by_card"]
TEMPLATE = (
    "{% for m in messages %}<{{ m['role'] }}>{{ m['content'] }}{{ eos_token }}{% endfor %}"
    "{% if add_generation_prompt %}<assistant>{% endif %}"
)


def asked() -> list[Messages]:
    return [[SYSTEM, {"role": "user", "content": text}] for text in TEXTS]


def reference(model: Any, tokenizer: Any, conversations: list[Messages], labels: list[str]) -> np.ndarray:
    """Each pair alone through the model, no padding and no cache: the answer tokens' summed
    log-probabilities, normalized over the labels."""
    scores = np.zeros((len(conversations), len(labels)))
    for row, conversation in enumerate(conversations):
        for column, label in enumerate(labels):
            encoded = encode(tokenizer, [*conversation, {"role": "assistant", "content": label}])
            with torch.no_grad():
                logits = model(input_ids=torch.tensor([encoded.input_ids])).logits[0]
            logprobs = torch.log_softmax(logits[:-1].float(), dim=-1)
            scores[row, column] = sum(
                float(logprobs[position - 1, token])
                for position, token in enumerate(encoded.labels)
                if token != IGNORE
            )
    probabilities = np.exp(scores - scores.max(axis=1, keepdims=True))
    return probabilities / probabilities.sum(axis=1, keepdims=True)


@pytest.fixture
def loaded(tiny_model: str) -> tuple[Any, Any]:
    return generate.load(tiny_model, None)


@pytest.mark.parametrize("templated", [False, True], ids=["plain", "chat-template"])
@pytest.mark.parametrize("batch_tokens", [8192, 64], ids=["one-pass", "many-passes"])
def test_label_probabilities_match_each_pair_scored_alone(
    loaded: tuple[Any, Any], templated: bool, batch_tokens: int
) -> None:
    model, tokenizer = loaded
    if templated:
        tokenizer.chat_template = TEMPLATE
    conversations = asked()
    expected = reference(model, tokenizer, conversations, LABELS)

    batched = generate.label_probabilities(model, tokenizer, conversations, LABELS, batch_tokens=batch_tokens)
    alone = np.vstack(
        [
            generate.label_probabilities(model, tokenizer, [c], LABELS, batch_tokens=batch_tokens)
            for c in conversations
        ]
    )

    assert batched.shape == (len(TEXTS), len(LABELS))
    np.testing.assert_allclose(batched, expected, atol=1e-5)
    np.testing.assert_allclose(alone, expected, atol=1e-5)
    np.testing.assert_allclose(batched.sum(axis=1), 1.0, atol=1e-9)
    assert not np.allclose(batched, 1 / len(LABELS))  # the model does prefer some labels


def test_progress_counts_conversations(loaded: tuple[Any, Any]) -> None:
    model, tokenizer = loaded
    seen: list[int] = []
    generate.label_probabilities(model, tokenizer, asked(), LABELS, seen.append, batch_tokens=64)
    assert seen == sorted(seen) and seen[-1] == len(TEXTS)
