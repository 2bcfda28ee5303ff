"""Examples rendered exactly as the model will be called, and tokenized for training.

One place for the prompt, shared by training and evaluation: the tokenizer's chat template when
it has one, else Finch's plain format (below). The conversation comes from the version's export
rules (`curation.freeze.formats.chat_messages`: the project's system prompt, the user turn(s),
the output as the assistant's answer). Only the answer is supervised: prompt tokens get the label
-100, and the answer ends with the end-of-sequence token, so the model learns where to stop.

Plain format (a base model without a chat template):

    {system prompt}

    ### Input:
    {input}

    ### Output:
    {output}<eos>

Earlier turns (a chat input's history, few-shot examples) come first as Input/Output blocks of
their own, and generation stops at the next block's header (`STOP`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

IGNORE = -100
INPUT_HEADER = "### Input:\n"
OUTPUT_HEADER = "### Output:\n"
STOP = "\n### "  # a plain-format answer ends before the next block header

Messages = list[dict[str, str]]


@dataclass(frozen=True)
class Encoded:
    input_ids: list[int]
    labels: list[int]  # IGNORE on the prompt: the loss is on the answer only

    @property
    def supervised(self) -> int:
        return sum(label != IGNORE for label in self.labels)


def uses_chat_template(tokenizer: Any) -> bool:
    return bool(getattr(tokenizer, "chat_template", None))


def prompt_text(tokenizer: Any, messages: Messages) -> str:
    """What the model is given: the conversation up to the answer (a last assistant message,
    the answer, is left out), ending where the answer starts."""
    conversation = messages[:-1] if messages and messages[-1]["role"] == "assistant" else messages
    if uses_chat_template(tokenizer):
        return str(tokenizer.apply_chat_template(conversation, tokenize=False, add_generation_prompt=True))
    system = "\n".join(m["content"] for m in conversation if m["role"] == "system").strip()
    parts = [f"{system}\n\n"] if system else []
    for message in conversation:
        if message["role"] == "assistant":
            parts.append(f"{OUTPUT_HEADER}{message['content']}\n\n")
        elif message["role"] != "system":
            parts.append(f"{INPUT_HEADER}{message['content']}\n\n")
    return "".join(parts) + OUTPUT_HEADER


def answer_text(tokenizer: Any, messages: Messages) -> str:
    """The supervised text after the prompt: with a chat template, the answer and the template's
    end-of-turn marker (which the model must learn to emit); else the answer itself."""
    answer = messages[-1]["content"]
    if not uses_chat_template(tokenizer):
        return answer
    prompt = prompt_text(tokenizer, messages)
    full = str(tokenizer.apply_chat_template(messages, tokenize=False))
    return full[len(prompt) :] if full.startswith(prompt) else answer


def encode(tokenizer: Any, messages: Messages) -> Encoded:
    """Token ids of prompt + answer + end-of-sequence, with only the answer part labelled.

    Prompt and answer are tokenized apart, as at generation time (the model is handed the
    prompt's tokens and continues from there)."""
    templated = uses_chat_template(tokenizer)
    prompt_ids = tokenizer(prompt_text(tokenizer, messages), add_special_tokens=not templated)["input_ids"]
    answer_ids = tokenizer(answer_text(tokenizer, messages), add_special_tokens=False)["input_ids"]
    eos = tokenizer.eos_token_id
    if eos is not None and eos not in answer_ids[-2:]:  # a template may end its turn with eos + "\n"
        answer_ids = [*answer_ids, eos]
    return Encoded(input_ids=[*prompt_ids, *answer_ids], labels=[IGNORE] * len(prompt_ids) + list(answer_ids))
