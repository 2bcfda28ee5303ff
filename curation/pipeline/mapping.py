"""Map a record of any supported format to example fields: input, output, metadata, external_id."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
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
# A record of Finch's own export (curation.services.exports: EXPORT_FIELDS, CSV_COLUMNS) has all of
# these at once; only then are EXPORT_ONLY_KEYS dropped. In a user's file `status` or `source` is
# data like any other key, kept in metadata.
EXPORT_RECORD_KEYS = frozenset((*ID_KEYS, METADATA_KEY, *EXPORT_ONLY_KEYS))
# A frozen version's `jsonl` line (curation.freeze.formats), with "external_id" from its export
# revision 2 on.
VERSION_RECORD_KEYS = frozenset(("id", "input", "metadata", "output", "split"))
# A row of a frozen version's `hf_parquet` export (with "external_id" from its export revision 3):
# its `messages` is the conversation made of the input, the output and the project's system prompt.
HF_RECORD_KEYS = frozenset(("id", "input", "messages", "metadata", "output"))
CHAT_TASK_TYPE = "chat"  # curation.models.TaskType.CHAT; the pipeline stays free of Django
# OpenAI chat records: where the parts of a record that the example itself cannot hold are kept.
SYSTEM_KEY = "system"  # a non-chat project's system message (the project's own prompt applies)
MESSAGE_FIELDS_KEY = "message_fields"  # {"<message number>": {field: value}}: name, weight, ...
MESSAGE_KEYS = ("role", "content")
TOOL_CALL_KEYS = ("tool_calls", "function_call")


# (where the values come from, for a message naming a key; the values)
MetadataPart = tuple[Callable[[str], str], dict[str, Any]]


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
    if mapping.input_field and mapping.input_field == mapping.output_field:
        raise RowError(f"input_field and output_field both name {mapping.input_field!r}.")
    # The key named as the output is never also the input, though it be an input alias (`text`).
    candidates = tuple(key for key in keys if not mapping.output_field or key != mapping.output_field)
    input_key = mapping.input_field or _first_present(INPUT_ALIASES, candidates)
    others = tuple(key for key in keys if key != input_key)
    output_key = mapping.output_field or _first_present(OUTPUT_ALIASES, others)
    if not input_key or input_key not in keys:
        wanted = mapping.input_field or " or ".join(INPUT_ALIASES)
        raise RowError(f"No input field ({wanted}) in the record; its keys: {_listed(keys)}.")
    # A named output field must be there (a typo would land every row without its output); found
    # by alias, it may be missing: a row without output is a draft, or an unlabeled input.
    if mapping.output_field and mapping.output_field not in keys:
        raise RowError(f"No output field ({mapping.output_field}) in the record; its keys: {_listed(keys)}.")
    return input_key, output_key


def _listed(keys: tuple[str, ...], most: int = 10) -> str:
    """A record's keys for a message that names a missing one (a typo is then plain to see)."""
    shown = ", ".join(keys[:most]) or "none"
    return shown if len(keys) <= most else f"{shown} and {len(keys) - most} more"


def _first_present(names: tuple[str, ...], keys: tuple[str, ...]) -> str:
    lowered = {key.lower(): key for key in keys}
    return next((lowered[name] for name in names if name in lowered), "")


def map_plain(record: dict[str, Any], mapping: FieldMapping) -> MappedRow:
    """JSONL, CSV and JSON rows: input and output by name; the other keys become metadata."""
    input_key, output_key = mapping.resolve(list(record))
    used = {input_key, output_key, *ID_KEYS, METADATA_KEY, *_export_only_keys(record)}
    metadata = _combined(
        (_in_metadata, _metadata(record.get(METADATA_KEY))), (_in_key, _extras(record, used))
    )
    return MappedRow(
        input=_text_or_value(record[input_key]),
        output=_text_or_value(record.get(output_key, "")) if output_key else "",
        metadata=metadata,
        external_id=_external_id(record),
    )


def _export_only_keys(record: dict[str, Any]) -> tuple[str, ...]:
    """The keys to drop as describing the example in its old project, or as made from the rest:
    only in Finch's own export (a project's; a frozen version's `jsonl`, whose `split` is the old
    version's; its `hf_parquet`, whose `messages` is the input and output as a conversation)."""
    if record.keys() >= EXPORT_RECORD_KEYS:
        return EXPORT_ONLY_KEYS
    keys = record.keys() - {"external_id"}
    if keys == VERSION_RECORD_KEYS:
        return ("split",)
    return ("messages",) if keys == HF_RECORD_KEYS else ()


def map_alpaca(record: dict[str, Any], mapping: FieldMapping) -> MappedRow:
    """Alpaca: the instruction, then the optional input after a blank line, is the input; the
    output is `output_field`, else `output` or another output alias (`response`, ...)."""
    instruction, extra = record.get("instruction"), record.get("input", "")
    if not isinstance(instruction, str) or not instruction.strip():
        raise RowError("An Alpaca record needs a non-empty instruction.")
    if not isinstance(extra, str):
        raise RowError("An Alpaca record's input must be a string.")
    output_key = _alpaca_output_key(tuple(record), mapping)
    used = {"instruction", "input", output_key, *ID_KEYS, METADATA_KEY}
    metadata = _combined(
        (_in_metadata, _metadata(record.get(METADATA_KEY))), (_in_key, _extras(record, used))
    )
    prompt = f"{instruction}\n\n{extra}" if extra.strip() else instruction
    return MappedRow(
        input=check_text(prompt),
        output=_text_or_value(record.get(output_key, "")),
        metadata=metadata,
        external_id=_external_id(record),
    )


def _alpaca_output_key(keys: tuple[str, ...], mapping: FieldMapping) -> str:
    """The key an Alpaca record's output is in: the one named (it must be there, as in the other
    formats), else the first output alias present; `output` when none is (an unlabeled draft)."""
    if mapping.output_field:
        if mapping.output_field not in keys:
            raise RowError(
                f"No output field ({mapping.output_field}) in the record; its keys: {_listed(keys)}."
            )
        return mapping.output_field
    others = tuple(key for key in keys if key not in ("instruction", "input"))
    return _first_present(OUTPUT_ALIASES, others) or "output"


def map_openai_chat(record: dict[str, Any], task_type: str) -> MappedRow:
    """OpenAI chat: the final assistant message is the output; what precedes it is the input.

    For a chat project the input is the message list; for the others it is the user's message
    (the project's own system prompt applies there, so a system message goes to metadata). A
    message's fields beyond role and content (`name`, `weight`) are kept in metadata too.
    """
    messages = _chat_messages(record.get("messages"))
    *context, last = messages
    if last.get("role") != "assistant":
        raise RowError("The last message must be the assistant's reply (the output).")
    _check_trained_on(len(messages), last)
    parts: list[MetadataPart] = [
        (_in_metadata, _metadata(record.get(METADATA_KEY))),
        (_in_key, _extras(record, {"messages", METADATA_KEY, *ID_KEYS})),
        (_in_message_fields, _message_fields(messages)),
    ]
    output = _text_or_value(last.get("content", ""))
    if task_type == CHAT_TASK_TYPE:
        chat = [{"role": m.get("role"), "content": _text_or_value(m.get("content"))} for m in context]
        return MappedRow(
            input=chat, output=output, metadata=_combined(*parts), external_id=_external_id(record)
        )
    user, system = _single_turn(context)
    if system is not None:
        parts.append((_in_system_message, {SYSTEM_KEY: system}))
    return MappedRow(
        input=_text_or_value(user.get("content")),
        output=output,
        metadata=_combined(*parts),
        external_id=_external_id(record),
    )


def _chat_messages(messages: Any) -> list[dict[str, Any]]:
    """The record's messages, each an object whose content Finch can hold as text."""
    if not isinstance(messages, list) or not messages:
        raise RowError("An OpenAI chat record needs a non-empty messages list.")
    if not all(isinstance(message, dict) for message in messages):
        raise RowError("Each message must be an object with role and content.")
    for number, message in enumerate(messages, start=1):
        _check_content(number, message, final=number == len(messages))
    return messages


def _check_content(number: int, message: dict[str, Any], *, final: bool) -> None:
    """Tool calls and content parts have no place in an example: refuse them by name, where the
    example's own check would only find the message empty."""
    where = f"Message {number} ({message.get('role')})"
    if any(message.get(key) not in (None, []) for key in TOOL_CALL_KEYS):
        raise RowError(f"{where} has tool calls, which Finch does not support: content must be text.")
    content = message.get("content")
    if isinstance(content, list):
        raise RowError(
            f"{where} has content parts (a list), which Finch does not support: content must be text."
        )
    # An extraction project takes its output as a JSON object; other messages are text.
    if isinstance(content, dict) and not final:
        raise RowError(f"{where} has an object as its content: content must be text.")


def _check_trained_on(number: int, last: dict[str, Any]) -> None:
    """OpenAI does not train on a message of weight 0; Finch trains on the final reply."""
    weight = last.get("weight")
    if weight is not None and not isinstance(weight, str) and weight == 0:
        raise RowError(
            f"Message {number} (assistant) has weight 0, so OpenAI would not train on it, but as the "
            "final reply it is the output Finch trains on: give it weight 1, or end the record with "
            "the reply to train on."
        )


def _message_fields(messages: list[dict[str, Any]]) -> dict[str, Any]:
    """The messages' fields beyond role and content, by message number (from 1, as in the file)."""
    fields = {
        str(number): {key: value for key, value in message.items() if key not in MESSAGE_KEYS}
        for number, message in enumerate(messages, start=1)
    }
    kept = {number: extra for number, extra in fields.items() if extra}
    _check_strings(kept)
    return {MESSAGE_FIELDS_KEY: kept} if kept else {}


def _single_turn(context: list[dict[str, Any]]) -> tuple[dict[str, Any], Any]:
    """A non-chat project's user message, and its system message (or None): the only messages
    its example can hold. Anything more would be dropped, so it is refused."""
    users = [m for m in context if m.get("role") == "user"]
    if len(users) != 1 or any(m.get("role") == "assistant" for m in context):
        raise RowError("For a non-chat project a record needs exactly one user message and one reply.")
    systems = 0
    for number, message in enumerate(context, start=1):
        role = message.get("role")
        systems += role == "system"
        if role == "system" and systems > 1:
            raise RowError(
                f"Message {number} is a second system message; a non-chat project keeps one (in "
                f"metadata {SYSTEM_KEY}): merge them into one."
            )
        if role not in ("system", "user"):
            raise RowError(
                f"Message {number} has role {role!r}; a non-chat project's record holds a system "
                "message, one user message and the reply."
            )
    system = next((m.get("content") for m in context if m.get("role") == "system"), None)
    return users[0], system


def _text_or_value(value: Any) -> Any:
    """Strings are checked for invalid bytes; numbers become text; objects pass to validation."""
    if isinstance(value, str):
        return check_text(value)
    if isinstance(value, bool) or value is None:
        return "" if value is None else str(value).lower()
    if isinstance(value, int | float):
        return json_values.number_text(value)  # 3.10 stays "3.10", as the file wrote it
    return value


def _metadata(value: Any) -> dict[str, Any]:
    """A metadata object; in CSV (Finch's own export too) it comes as JSON text."""
    if value is None or value == "":
        return {}
    if isinstance(value, str):
        try:
            value = json_values.parse_imported(value)  # metadata_json checks the rest when stored
        except json_values.UnstorableJSON as exc:
            raise RowError(f"metadata {exc}.") from exc
        except json.JSONDecodeError as exc:
            raise RowError("metadata must be a JSON object.") from exc
    if not isinstance(value, dict):
        raise RowError("metadata must be a JSON object.")
    return dict(value)


def _in_metadata(key: str) -> str:
    return "the record's metadata"


def _in_key(key: str) -> str:
    return f"the record's key {key!r}"


def _in_message_fields(key: str) -> str:
    return "its messages' fields beyond role and content"


def _in_system_message(key: str) -> str:
    return "its system message"


def _combined(*parts: MetadataPart) -> dict[str, Any]:
    """The parts merged into one metadata object. A key two parts give different values is a row
    error: one value would be lost. Each part's `where` names it, for the message."""
    metadata: dict[str, Any] = {}
    for index, (where, values) in enumerate(parts):
        if not metadata.keys().isdisjoint(values):  # rare: look closer only then
            _refuse_conflicts(metadata, parts[:index], where, values)
        metadata.update(values)
    return metadata


def _refuse_conflicts(
    metadata: dict[str, Any],
    earlier: tuple[MetadataPart, ...],
    where: Callable[[str], str],
    values: dict[str, Any],
) -> None:
    for key, value in values.items():
        if key in metadata and not _same_value(metadata[key], value):
            first = next(place for place, given in earlier if key in given)
            raise RowError(
                f"metadata {key!r} is given two different values, in {first(key)} and in "
                f"{where(key)}, and only one could be kept: rename or remove one."
            )


def _same_value(first: Any, second: Any) -> bool:
    """Equal as JSON: Python finds 1 == 1.0 == True, a user does not."""
    try:
        return json_values.dumps(first) == json_values.dumps(second)
    except json_values.UnstorableJSON:
        return False  # nothing to keep either way; storing the metadata refuses it anyway


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
