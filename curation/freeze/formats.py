"""Lines of a version's exports, one per item, in canonical JSON (key-sorted, compact, UTF-8).

Pure functions: the same item, project settings and export revision always give the same bytes.
- `jsonl`: {"external_id", "id", "input", "metadata", "output", "split"}: Finch's own form,
  everything kept (revision 1 had no "external_id").
- `openai_chat`: {"messages": [system?, user..., assistant]}: the chat fine-tuning format; it
  passes the checks of OpenAI's data-preparation script (roles, keys, an assistant message,
  no empty content).
- `alpaca`: {"instruction", "input", "output"}: the instruction is the project's system prompt,
  else its target behavior.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

FORMATS = ("jsonl", "openai_chat", "alpaca")

# The export revision: a version renders its exports as the revision recorded in its manifest
# (`export_revision`; absent: 1), so the bytes, and hashes, of a version never change when a
# format gains something. Versions are frozen at the latest.
#   1: `jsonl` lines {"id", "input", "metadata", "output", "split"}; `hf_parquet` metadata
#      integers and floats of one key made a float even where the float rounded the integer.
#   2: `jsonl` lines also carry "external_id" (null without one); in `hf_parquet` metadata an
#      integer a float cannot hold exactly and a float of the same key make JSON text instead.
#   3: `hf_parquet` has an `external_id` column too (null without one).
EXPORT_REVISION = 3
FIRST_REVISION = 1


@dataclass(frozen=True)
class Item:
    example_id: int
    split: str
    input: Any  # text, or a list of chat messages for chat projects
    output: str
    metadata: str  # canonical JSON (see canonical)
    external_id: str | None = None


@dataclass(frozen=True)
class Rendering:
    """What shapes every line: the project's system prompt and target behavior (as a version
    recorded them at freeze), and the export revision the version was frozen at."""

    system_prompt: str
    target_behavior: str
    revision: int = EXPORT_REVISION


json_string = json.encoder.encode_basestring  # what json.dumps(str, ensure_ascii=False) uses


def canonical(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def jsonl_line(item: Item, revision: int) -> str:
    """canonical({"external_id", "id", "input", "metadata", "output", "split"}) + newline
    (revision 1: without "external_id")."""
    encoded_input = json_string(item.input) if isinstance(item.input, str) else canonical(item.input)
    return jsonl_line_of(
        item.example_id, encoded_input, item.metadata, item.output, item.split, item.external_id, revision
    )


def jsonl_line_of(
    example_id: int,
    encoded_input: str,
    metadata: str,
    output: str,
    split: str,
    external_id: str | None,
    revision: int,
) -> str:
    """The same line from parts, composed directly (keys in sorted order, strings by the encoder
    json.dumps uses): a freeze renders a million. `encoded_input` and `metadata` are canonical
    JSON already (a chat input is stored that way)."""
    line = (
        f'"id":{example_id},"input":{encoded_input},"metadata":{metadata},'
        f'"output":{json_string(output)},"split":{json_string(split)}}}\n'
    )
    if revision == FIRST_REVISION:
        return "{" + line
    encoded_id = "null" if external_id is None else json_string(external_id)
    return f'{{"external_id":{encoded_id},' + line


def line(item: Item, file_format: str, rendering: Rendering) -> str:
    if file_format == "jsonl":
        return jsonl_line(item, rendering.revision)
    record: dict[str, Any]
    if file_format == "openai_chat":
        record = {"messages": chat_messages(item, rendering)}
    elif file_format == "alpaca":
        record = {
            "instruction": rendering.system_prompt.strip() or rendering.target_behavior.strip(),
            "input": _as_text(item.input),
            "output": item.output,
        }
    else:
        raise ValueError(f"unknown export format {file_format!r}")
    return canonical(record) + "\n"


def chat_messages(item: Item, rendering: Rendering) -> list[dict[str, str]]:
    """The conversation as the model is called: the project's system prompt (unless the chat
    input brings its own), the user turn(s), then the output as the assistant's answer."""
    turns = (
        [{"role": str(turn["role"]), "content": str(turn["content"])} for turn in item.input]
        if isinstance(item.input, list)
        else [{"role": "user", "content": item.input}]
    )
    system = rendering.system_prompt.strip()
    if system and not any(turn["role"] == "system" for turn in turns):
        turns.insert(0, {"role": "system", "content": system})
    return [*turns, {"role": "assistant", "content": item.output}]


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return "\n".join(f"{turn['role']}: {turn['content']}" for turn in value)
