"""Map a record of any supported format to example fields: input, output, metadata, external_id."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from typing import Any

from curation.pipeline import json_values
from curation.pipeline.decoding import check_text
from curation.pipeline.errors import RowError

INPUT_ALIASES = ("input", "text", "prompt", "question", "query", "instruction")
OUTPUT_ALIASES = ("output", "label", "completion", "answer", "response", "category", "target", "intent")
ID_KEYS = ("external_id", "id")
METADATA_KEY = "metadata"
# Fields of Finch's own export that describe an example in its old project, not the content.
EXPORT_ONLY_KEYS = ("status", "source", "duplicate_of")
CHAT_TASK_TYPE = "chat"  # curation.models.TaskType.CHAT; the pipeline stays free of Django


@dataclass(frozen=True)
class MappedRow:
    input: Any
    output: Any
    metadata: dict[str, Any]
    external_id: str | None


@dataclass(frozen=True)
class FieldMapping:
    """Which keys hold the input and output; empty means: find them by the usual aliases."""

    input_field: str = ""
    output_field: str = ""

    def resolve(self, keys: list[str]) -> tuple[str, str]:
        """Pick the input and output keys from a record's keys (the header, for CSV)."""
        return _resolve(self, tuple(keys))


@functools.lru_cache(maxsize=256)
def _resolve(mapping: FieldMapping, keys: tuple[str, ...]) -> tuple[str, str]:
    """Records of one file share their keys, so each key set is resolved once."""
    input_key = mapping.input_field or _first_present(INPUT_ALIASES, keys)
    others = tuple(key for key in keys if key != input_key)
    output_key = mapping.output_field or _first_present(OUTPUT_ALIASES, others)
    if not input_key or input_key not in keys:
        wanted = mapping.input_field or " or ".join(INPUT_ALIASES)
        raise RowError(f"No input field ({wanted}) in the record.")
    # A named output field must be there (a typo would land every row without its output); found
    # by alias, it may be missing: a row without output is a draft, or an unlabeled input.
    if mapping.output_field and mapping.output_field not in keys:
        raise RowError(f"No output field ({mapping.output_field}) in the record.")
    return input_key, output_key


def _first_present(names: tuple[str, ...], keys: tuple[str, ...]) -> str:
    lowered = {key.lower(): key for key in keys}
    return next((lowered[name] for name in names if name in lowered), "")


def map_plain(record: dict[str, Any], mapping: FieldMapping) -> MappedRow:
    """JSONL, CSV and JSON rows: input and output by name; the other keys become metadata."""
    input_key, output_key = mapping.resolve(list(record))
    used = {input_key, output_key, *ID_KEYS, METADATA_KEY, *EXPORT_ONLY_KEYS}
    metadata = _metadata(record.get(METADATA_KEY))
    metadata.update(_extras(record, used))
    return MappedRow(
        input=_text_or_value(record[input_key]),
        output=_text_or_value(record.get(output_key, "")) if output_key else "",
        metadata=metadata,
        external_id=_external_id(record),
    )


def map_alpaca(record: dict[str, Any], mapping: FieldMapping) -> MappedRow:
    """Alpaca: the instruction, then the optional input after a blank line, is the input."""
    instruction, extra = record.get("instruction"), record.get("input", "")
    if not isinstance(instruction, str) or not instruction.strip():
        raise RowError("An Alpaca record needs a non-empty instruction.")
    if not isinstance(extra, str):
        raise RowError("An Alpaca record's input must be a string.")
    used = {"instruction", "input", "output", *ID_KEYS, METADATA_KEY}
    metadata = _metadata(record.get(METADATA_KEY))
    metadata.update(_extras(record, used))
    prompt = f"{instruction}\n\n{extra}" if extra.strip() else instruction
    return MappedRow(
        input=check_text(prompt),
        output=_text_or_value(record.get("output", "")),
        metadata=metadata,
        external_id=_external_id(record),
    )


def map_openai_chat(record: dict[str, Any], task_type: str) -> MappedRow:
    """OpenAI chat: the final assistant message is the output; what precedes it is the input.

    For a chat project the input is the message list; for the others it is the user's message
    (the project's own system prompt applies there, so a system message goes to metadata).
    """
    messages = record.get("messages")
    if not isinstance(messages, list) or not messages:
        raise RowError("An OpenAI chat record needs a non-empty messages list.")
    if not all(isinstance(message, dict) for message in messages):
        raise RowError("Each message must be an object with role and content.")
    *context, last = messages
    if last.get("role") != "assistant":
        raise RowError("The last message must be the assistant's reply (the output).")
    metadata = _metadata(record.get(METADATA_KEY))
    metadata.update(_extras(record, {"messages", METADATA_KEY, *ID_KEYS}))
    output = _text_or_value(last.get("content", ""))
    if task_type == CHAT_TASK_TYPE:
        chat = [{"role": m.get("role"), "content": _text_or_value(m.get("content"))} for m in context]
        return MappedRow(input=chat, output=output, metadata=metadata, external_id=_external_id(record))
    users = [m for m in context if m.get("role") == "user"]
    if len(users) != 1 or any(m.get("role") == "assistant" for m in context):
        raise RowError("For a non-chat project a record needs exactly one user message and one reply.")
    system = [m.get("content") for m in context if m.get("role") == "system"]
    if system:
        metadata["system"] = system[0]
    return MappedRow(
        input=_text_or_value(users[0].get("content")),
        output=output,
        metadata=metadata,
        external_id=_external_id(record),
    )


def _text_or_value(value: Any) -> Any:
    """Strings are checked for invalid bytes; numbers become text; objects pass to validation."""
    if isinstance(value, str):
        return check_text(value)
    if isinstance(value, bool) or value is None:
        return "" if value is None else str(value).lower()
    if isinstance(value, int | float):
        return str(value)
    return value


def _metadata(value: Any) -> dict[str, Any]:
    """A metadata object; in CSV (Finch's own export too) it comes as JSON text."""
    if value is None or value == "":
        return {}
    if isinstance(value, str):
        try:
            value = json_values.parse(value)  # metadata_json checks the rest when it is stored
        except json_values.UnstorableJSON as exc:
            raise RowError(f"metadata {exc}.") from exc
        except json.JSONDecodeError as exc:
            raise RowError("metadata must be a JSON object.") from exc
    if not isinstance(value, dict):
        raise RowError("metadata must be a JSON object.")
    return dict(value)


def _extras(record: dict[str, Any], used: set[str]) -> dict[str, Any]:
    """The record's other keys, kept as metadata; their text must be UTF-8 like the rest."""
    extras = {key: value for key, value in record.items() if key not in used}
    _check_strings(extras)
    return extras


def _check_strings(value: Any) -> None:
    if isinstance(value, str):
        check_text(value)
    elif isinstance(value, dict):
        for key, item in value.items():
            check_text(key)
            _check_strings(item)
    elif isinstance(value, list):
        for item in value:
            _check_strings(item)


def _external_id(record: dict[str, Any]) -> str | None:
    """`external_id` when the record has that key, even empty; else `id`.

    Finch's own export writes both: its `id` is the example's number in the old project, and an
    empty `external_id` means the example had none, so the content identifies it there as here.
    """
    key = next((key for key in ID_KEYS if key in record), None)
    value = record.get(key) if key else None
    if value is None or value == "":
        return None
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise RowError(f"{key} must be a string or an integer.")
    return check_text(str(value)).strip() or None
