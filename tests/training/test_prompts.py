"""Rendering and tokenizing for training: the loss is on the answer alone, the answer ends with
the end-of-sequence token, and a chat template is used when the tokenizer has one."""

from __future__ import annotations

from typing import Any

import pytest

from training.modeling import tokenizer_load
from training.preflight import PreflightError, prepare
from training.prompts import IGNORE, encode, prompt_text, uses_chat_template

MESSAGES = [
    {"role": "system", "content": "Answer with the label."},
    {"role": "user", "content": "I lost my card"},
    {"role": "assistant", "content": "lost_or_stolen_card"},
]


@pytest.fixture(scope="module")
def tokenizer(tiny_model: str) -> Any:
    return tokenizer_load(tiny_model)


@pytest.fixture(scope="module")
def plain(tiny_model: str) -> Any:
    """The tiny model's tokenizer without its chat template: a base model that has none."""
    tokenizer = tokenizer_load(tiny_model)
    tokenizer.chat_template = None
    return tokenizer


def test_plain_prompt_format(plain: Any) -> None:
    tokenizer = plain
    assert (
        prompt_text(tokenizer, MESSAGES)
        == "Answer with the label.\n\n### Input:\nI lost my card\n\n### Output:\n"
    )


def test_only_the_answer_and_its_end_token_are_supervised(plain: Any) -> None:
    tokenizer = plain
    encoded = encode(tokenizer, MESSAGES)
    prompt_ids = tokenizer(prompt_text(tokenizer, MESSAGES))["input_ids"]
    answer_ids = tokenizer("lost_or_stolen_card", add_special_tokens=False)["input_ids"]

    assert encoded.input_ids == [*prompt_ids, *answer_ids, tokenizer.eos_token_id]
    assert encoded.labels == [IGNORE] * len(prompt_ids) + [*answer_ids, tokenizer.eos_token_id]
    assert encoded.input_ids[0] == tokenizer.bos_token_id
    assert encoded.supervised == len(answer_ids) + 1


def test_a_chat_template_renders_the_prompt_and_its_end_of_turn_is_learned(tiny_model: str) -> None:
    tokenizer = tokenizer_load(tiny_model)
    tokenizer.chat_template = (
        "{% for m in messages %}<{{ m['role'] }}>{{ m['content'] }}{{ eos_token }}{% endfor %}"
        "{% if add_generation_prompt %}<assistant>{% endif %}"
    )
    assert prompt_text(tokenizer, MESSAGES) == (
        "<system>Answer with the label.<|eos|><user>I lost my card<|eos|><assistant>"
    )
    encoded = encode(tokenizer, MESSAGES)
    supervised = [
        token for token, label in zip(encoded.input_ids, encoded.labels, strict=True) if label != IGNORE
    ]
    assert tokenizer.decode(supervised) == "lost_or_stolen_card<|eos|>"  # the template's own end, once


def test_the_tiny_models_chat_template_renders_the_plain_format_token_for_token(
    tokenizer: Any, plain: Any
) -> None:
    assert uses_chat_template(tokenizer)
    for conversation in (MESSAGES, MESSAGES[1:]):
        assert encode(tokenizer, conversation) == encode(plain, conversation)
    assert prompt_text(tokenizer, MESSAGES) == "<|bos|>" + prompt_text(plain, MESSAGES)
    # An earlier answer ends with its end token too (the plain format has none there)
    earlier = [*MESSAGES, {"role": "user", "content": "and now?"}]
    assert prompt_text(tokenizer, earlier) == (
        "<|bos|>Answer with the label.\n\n### Input:\nI lost my card\n\n### Output:\nlost_or_stolen_card<|eos|>"
        "\n\n### Input:\nand now?\n\n### Output:\n"
    )


def test_the_tiny_models_template_marks_each_answer_and_its_end_token_for_assistant_masks(
    tokenizer: Any,
) -> None:
    conversation = [
        *MESSAGES,
        {"role": "user", "content": "and now?"},
        {"role": "assistant", "content": "card_arrival"},
    ]
    rendered = tokenizer.apply_chat_template(
        conversation, tokenize=True, return_dict=True, return_assistant_tokens_mask=True
    )
    ids, mask = rendered["input_ids"], rendered["assistant_masks"]
    spans = [tokenizer.decode(ids[start:end]) for start, end in _runs(mask)]
    assert spans == ["lost_or_stolen_card<|eos|>", "card_arrival<|eos|>"]
    assert ids[0] == tokenizer.bos_token_id and mask[0] == 0


def test_the_tiny_models_template_refuses_a_role_finch_does_not_write(tokenizer: Any) -> None:
    with pytest.raises(Exception, match="Unknown role tool"):
        tokenizer.apply_chat_template([{"role": "tool", "content": "42"}], tokenize=False)


def _runs(mask: list[int]) -> list[tuple[int, int]]:
    """(start, end) of each run of 1s."""
    runs, start = [], None
    for position, bit in enumerate([*mask, 0]):
        if bit and start is None:
            start = position
        elif not bit and start is not None:
            runs.append((start, position))
            start = None
    return runs


def test_prepare_reports_and_drops_what_does_not_fit(tokenizer: Any) -> None:
    short = MESSAGES
    long = [*MESSAGES[:1], {"role": "user", "content": "word " * 200}, MESSAGES[2]]
    prepared = prepare(
        tokenizer, [short] * 20 + [long], [short], max_seq_length=64, max_truncated_fraction=0.1
    )
    assert len(prepared.train) == 20
    assert prepared.report["train"]["truncated"] == 1
    assert prepared.report["train"]["longest_tokens"] > 64
    assert prepared.report["eval"]["kept"] == 1


def test_prepare_refuses_empty_outputs(tokenizer: Any) -> None:
    empty = [*MESSAGES[:2], {"role": "assistant", "content": "  "}]
    with pytest.raises(PreflightError, match=r"1 example\(s\) have an empty output"):
        prepare(tokenizer, [MESSAGES, empty], [], max_seq_length=64, max_truncated_fraction=0.1)


def test_prepare_refuses_when_no_supervised_token_is_left(tokenizer: Any) -> None:
    with pytest.raises(PreflightError, match="No train example is left with a supervised token"):
        prepare(tokenizer, [MESSAGES] * 3, [], max_seq_length=8, max_truncated_fraction=1.0)
