"""Validation and identity of example content, per task type. Pure functions, no database."""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jsonschema
from django.conf import settings

from curation.errors import InvalidInput
from curation.models import Project, TaskType
from curation.pipeline import json_values
from curation.services import output_schema as output_schema_rules

CHAT_ROLES = ("system", "user", "assistant")
# The escape \u0000 in JSON text: a backslash not itself escaped (after an even number of them)
JSON_NUL = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")
# How many schema problems of one output a refusal names before "and N more".
SCHEMA_PROBLEMS_SHOWN = 5


def canonical_json(value: Any) -> str:
    """Compact, key-sorted JSON that keeps non-ASCII text readable."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def answer_key(task_type: str, output: str) -> str:
    """What two outputs in stored form must share to be the same answer: the label, the JSON
    value, or the trimmed text."""
    if task_type == TaskType.EXTRACTION:
        try:
            return canonical_json(json.loads(output))
        except ValueError:
            return output.strip()
    return output.strip()


def storable_json(value: Any, field: str) -> str:
    """The value as canonical JSON text, refused (naming the field) if no database can store it:
    NaN or Infinity, an integer of thousands of digits, nesting past json_values.MAX_DEPTH."""
    try:
        return json_values.dumps(value)
    except json_values.UnstorableJSON as exc:
        raise InvalidInput(f"{field} {exc}.", field=field) from exc


def loads_storable(text: str, field: str) -> Any:
    """Parse JSON text from a user; json.JSONDecodeError if malformed, InvalidInput naming the
    field if it holds what no database can store."""
    try:
        return json_values.loads(text)
    except json_values.UnstorableJSON as exc:
        raise InvalidInput(f"{field} {exc}.", field=field) from exc


def content_hash(stored_input: str, stored_output: str) -> str:
    """Identity of an example: sha256 over input and output after Unicode NFC and trimming.

    Case, punctuation and inner spacing are kept, so only truly identical content collides.
    The two parts are joined by NUL, which validated content never holds.
    """
    key = f"{_identity_form(stored_input)}\x00{_identity_form(stored_output)}"
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _identity_form(text: str) -> str:
    if not unicodedata.is_normalized("NFC", text):
        text = unicodedata.normalize("NFC", text)
    return text.strip()


def validate_project_settings(
    task_type: str, labels: Any, output_schema: Any
) -> tuple[list[str], dict[str, Any] | None]:
    """Check a project's labels and output schema for its task type; return them cleaned."""
    if task_type not in TaskType.values:
        raise InvalidInput(
            f"Unknown task_type {task_type!r}; use one of {', '.join(TaskType.values)}.",
            field="task_type",
        )
    clean_labels = _validate_labels(labels, required=task_type == TaskType.CLASSIFICATION)
    clean_schema = _validate_schema(output_schema)
    return clean_labels, clean_schema


def _validate_labels(labels: Any, *, required: bool) -> list[str]:
    labels = [] if labels is None else labels
    if not isinstance(labels, list) or not all(isinstance(label, str) for label in labels):
        raise InvalidInput("labels must be a list of strings.", field="labels")
    stripped = [label.strip() for label in labels]
    if any(not label for label in stripped):
        raise InvalidInput("labels must not be empty strings.", field="labels")
    if repeated := sorted({label for label in stripped if stripped.count(label) > 1}):
        listed = ", ".join(f"“{label}”" for label in repeated)
        raise InvalidInput(f"labels must be unique: {listed} listed more than once.", field="labels")
    if len(stripped) > settings.FINCH_MAX_LABELS:
        raise InvalidInput(f"At most {settings.FINCH_MAX_LABELS} labels are allowed.", field="labels")
    if required and len(stripped) < 2:
        raise InvalidInput("A classification project needs at least two labels.", field="labels")
    return stripped


def refuse_nul(text: str, field: str) -> str:
    """Refuse text that PostgreSQL cannot store: NUL characters and unpaired surrogates (which
    is also what bytes that were not UTF-8 become in an import)."""
    if "\x00" in text:
        raise InvalidInput(f"{field} contains a NUL character.", field=field)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidInput(f"{field} is not valid UTF-8 text.", field=field) from exc
    return text


def refuse_nul_json(text: str, field: str) -> str:
    """refuse_nul for JSON text, whose NUL characters are the escape \\u0000 (PostgreSQL's jsonb
    refuses it); a backslash written before "u0000" is text like any other."""
    if JSON_NUL.search(text):
        raise InvalidInput(f"{field} contains a NUL character.", field=field)
    return refuse_nul(text, field)


def _validate_schema(output_schema: Any) -> dict[str, Any] | None:
    if output_schema is None:
        return None
    if not isinstance(output_schema, dict):
        raise InvalidInput("output_schema must be a JSON Schema object.", field="output_schema")
    refuse_nul_json(storable_json(output_schema, "output_schema"), "output_schema")
    return output_schema_rules.checked_schema(output_schema)


@dataclass(frozen=True)
class ContentRules:
    """What a project's examples must satisfy; a plain copy, so threads and jobs need no database."""

    task_type: str
    labels: list[str]
    output_schema: dict[str, Any] | None
    require_output: bool

    @classmethod
    def for_project(cls, project: Project, *, require_output: bool) -> ContentRules:
        return cls(project.task_type, list(project.labels), project.output_schema, require_output)

    def validate(self, input_value: Any, output_value: Any) -> tuple[str, str]:
        """The input and output in their stored (text) form; InvalidInput names the problem."""
        return validate_content(
            task_type=self.task_type,
            labels=self.labels,
            output_schema=self.output_schema,
            input_value=input_value,
            output_value=output_value,
            require_output=self.require_output,
        )


def validate_content(
    *,
    task_type: str,
    labels: list[str],
    output_schema: dict[str, Any] | None,
    input_value: Any,
    output_value: Any,
    require_output: bool,
) -> tuple[str, str]:
    """Validate an example's input and output; return them in their stored (text) form.

    A draft may leave the output empty (require_output=False), but what it gives must be valid.
    """
    stored_input = _stored_input(task_type, input_value)
    stored_output = _stored_output(task_type, output_value)
    if not stored_output.strip():
        if require_output:
            raise InvalidInput("output must not be empty.", field="output")
        return stored_input, stored_output
    if task_type == TaskType.CLASSIFICATION and stored_output not in labels:
        raise InvalidInput(
            f"output {clip(stored_output)!r} is not one of the project's labels.", field="output"
        )
    if task_type == TaskType.EXTRACTION:
        check_extraction_output(stored_output, output_schema)
    return stored_input, stored_output


def _stored_input(task_type: str, value: Any) -> str:
    if task_type == TaskType.CHAT:
        return canonical_json(_checked_messages(value))
    if not isinstance(value, str):
        raise InvalidInput("input must be a string.", field="input")
    if not value.strip():
        raise InvalidInput("input must not be empty.", field="input")
    _check_length(value, "input")
    return value


def _stored_output(task_type: str, value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list) and task_type == TaskType.EXTRACTION:
        # An extraction output given as an object is kept as its JSON text.
        storable_json(value, "output")
        value = json.dumps(value, ensure_ascii=False)
    if not isinstance(value, str):
        allowed = "a string or a JSON object" if task_type == TaskType.EXTRACTION else "a string"
        raise InvalidInput(f"output must be {allowed}, not {type(value).__name__}.", field="output")
    _check_length(value, "output")
    return value


def _checked_messages(value: Any) -> list[dict[str, str]]:
    if isinstance(value, str):
        try:
            value = loads_storable(value, "input")
        except json.JSONDecodeError as exc:
            raise InvalidInput(
                "For a chat project, input must be a list of {role, content} messages.",
                field="input",
            ) from exc
    if not isinstance(value, list) or not value:
        raise InvalidInput(
            "For a chat project, input must be a non-empty list of {role, content} messages.",
            field="input",
        )
    messages = [_checked_message(index, message) for index, message in enumerate(value)]
    _check_conversation_order(messages)
    _check_length(storable_json(messages, "input"), "input")
    return messages


def _checked_message(index: int, message: Any) -> dict[str, str]:
    """One message; a refusal names it as people count (Message 2) and, for API users, its path."""
    where = f"input[{index}]"
    if not isinstance(message, dict) or set(message) != {"role", "content"}:
        raise InvalidInput(
            f"Message {index + 1} must be an object with exactly role and content ({where}).", field="input"
        )
    role, content = message["role"], message["content"]
    if role not in CHAT_ROLES:
        raise InvalidInput(
            f"Message {index + 1}: role {role!r} is not one of {', '.join(CHAT_ROLES)} ({where}.role).",
            field="input",
        )
    if not isinstance(content, str) or not content.strip():
        raise InvalidInput(
            f"Message {index + 1} ({role}) is empty: write its text or remove it ({where}.content).",
            field="input",
        )
    return {"role": role, "content": content}


def _check_conversation_order(messages: list[dict[str, str]]) -> None:
    roles = [message["role"] for message in messages]
    if "system" in roles[1:]:
        raise InvalidInput("Only the first message may have the system role.", field="input")
    if roles[-1] != "user":
        raise InvalidInput(
            "The last input message must be from the user; the output is the assistant's reply.",
            field="input",
        )


def check_extraction_output(stored_output: str, output_schema: dict[str, Any] | None) -> None:
    """InvalidInput when an extraction output is not JSON or does not match the schema."""
    extraction_checker(output_schema)(stored_output)


def extraction_checker(output_schema: dict[str, Any] | None) -> Callable[[str], None]:
    """check_extraction_output with the schema compiled once, for checking many outputs."""
    validator = None if output_schema is None else output_schema_rules.schema_validator(output_schema)

    def check(stored_output: str) -> None:
        try:
            document = loads_storable(stored_output, "output")
        except json.JSONDecodeError as exc:
            raise InvalidInput(
                f"output is not valid JSON: {exc.msg} at position {exc.pos}.", field="output"
            ) from exc
        if validator is None:
            return
        errors = output_schema_rules.problems(validator, document)
        if errors:
            raise InvalidInput(
                f"output does not match the project's output_schema: {_schema_problems(errors)}",
                field="output",
            )

    return check


def _schema_problems(errors: list[jsonschema.exceptions.ValidationError]) -> str:
    """Every problem, each at its path, capped at SCHEMA_PROBLEMS_SHOWN then "and N more"."""
    shown = [
        f"at {'/'.join(str(part) for part in error.absolute_path) or '(root)'}: {clip(error.message, 160)}"
        for error in errors[:SCHEMA_PROBLEMS_SHOWN]
    ]
    more = len(errors) - len(shown)
    return "; ".join(shown) + (f"; and {more} more." if more else ".")


def _check_length(text: str, field: str) -> None:
    if "\x00" in text:
        raise InvalidInput(f"{field} contains a NUL character.", field=field)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidInput(f"{field} is not valid Unicode (an unpaired surrogate).", field=field) from exc
    limit = settings.FINCH_MAX_FIELD_CHARS
    if len(text) > limit:
        raise InvalidInput(f"{field} is {len(text)} characters long; the limit is {limit}.", field=field)


def clip(text: str, width: int = 80) -> str:
    """The text, cut to `width` characters with an ellipsis, for a message that quotes it."""
    return text if len(text) <= width else text[: width - 1] + "…"
