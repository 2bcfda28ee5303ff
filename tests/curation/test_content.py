from typing import Any

import pytest

from curation.errors import InvalidInput
from curation.models import TaskType
from curation.services.content import content_hash, validate_content, validate_project_settings

SCHEMA = {
    "type": "object",
    "properties": {"people": {"type": "integer"}, "time": {"type": "string"}},
    "required": ["people"],
    "additionalProperties": False,
}


def check(task_type: str, input_value: object, output_value: object, **kwargs: Any) -> tuple[str, str]:
    options: dict[str, Any] = {"labels": ["yes", "no"], "output_schema": None, "require_output": True}
    options.update(kwargs)
    return validate_content(
        task_type=task_type, input_value=input_value, output_value=output_value, **options
    )


class TestContentHash:
    def test_nfc_and_trimming_do_not_change_identity(self) -> None:
        composed, decomposed = "caf\u00e9", "cafe\u0301"
        assert content_hash(f"  {composed} ", "x") == content_hash(decomposed, "x\n")

    @pytest.mark.parametrize("other", ["Hello world", "hello  world", "hello world!"])
    def test_case_spacing_and_punctuation_keep_examples_apart(self, other: str) -> None:
        assert content_hash("hello world", "x") != content_hash(other, "x")

    def test_input_and_output_do_not_blur_together(self) -> None:
        assert content_hash("ab", "c") != content_hash("a", "bc")


class TestClassification:
    def test_known_label_is_accepted(self) -> None:
        assert check(TaskType.CLASSIFICATION, "Is it on?", "yes") == ("Is it on?", "yes")

    def test_unknown_label_names_the_label(self) -> None:
        with pytest.raises(InvalidInput, match="'maybe' is not one of the project's labels") as caught:
            check(TaskType.CLASSIFICATION, "Is it on?", "maybe")
        assert caught.value.field == "output"

    def test_draft_may_leave_output_empty_but_submitted_may_not(self) -> None:
        assert check(TaskType.CLASSIFICATION, "Is it on?", "", require_output=False) == ("Is it on?", "")
        with pytest.raises(InvalidInput, match="output must not be empty"):
            check(TaskType.CLASSIFICATION, "Is it on?", "")

    @pytest.mark.parametrize("bad_input", ["", "   ", 42, None, ["a"]])
    def test_input_must_be_non_empty_text(self, bad_input: object) -> None:
        with pytest.raises(InvalidInput) as caught:
            check(TaskType.CLASSIFICATION, bad_input, "yes")
        assert caught.value.field == "input"


class TestExtraction:
    def test_object_output_is_stored_as_json_text(self) -> None:
        _, stored = check(TaskType.EXTRACTION, "Table for 2", {"people": 2}, output_schema=SCHEMA)
        assert stored == '{"people": 2}'

    def test_string_output_is_kept_as_given(self) -> None:
        _, stored = check(TaskType.EXTRACTION, "Table for 2", '{ "people":2 }', output_schema=SCHEMA)
        assert stored == '{ "people":2 }'

    def test_invalid_json_is_named(self) -> None:
        with pytest.raises(InvalidInput, match="output is not valid JSON"):
            check(TaskType.EXTRACTION, "Table for 2", '{"people": 2', output_schema=SCHEMA)

    def test_schema_violation_names_the_path(self) -> None:
        with pytest.raises(InvalidInput, match="at people: 'two' is not of type 'integer'"):
            check(TaskType.EXTRACTION, "Table for 2", {"people": "two"}, output_schema=SCHEMA)

    def test_missing_required_field_is_named(self) -> None:
        with pytest.raises(InvalidInput, match="'people' is a required property"):
            check(TaskType.EXTRACTION, "At 7pm", {"time": "19:00"}, output_schema=SCHEMA)


class TestChat:
    def test_messages_are_stored_canonically(self) -> None:
        messages = [{"content": "Hi", "role": "system"}, {"role": "user", "content": "Hello ✓"}]
        stored, _ = check(TaskType.CHAT, messages, "Hi there")
        assert stored == '[{"content":"Hi","role":"system"},{"content":"Hello ✓","role":"user"}]'

    @pytest.mark.parametrize(
        ("messages", "problem"),
        [
            ([], "non-empty list"),
            ("plain text", "list of {role, content} messages"),
            ([{"role": "robot", "content": "x"}], "'robot' is not one of"),
            ([{"role": "user"}], "exactly role and content"),
            ([{"role": "user", "content": "  "}], r"\(user\) is empty"),
            ([{"role": "user", "content": "a"}, {"role": "system", "content": "b"}], "Only the first"),
            (
                [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}],
                "must be from the user",
            ),
        ],
    )
    def test_bad_conversations_are_named(self, messages: object, problem: str) -> None:
        with pytest.raises(InvalidInput, match=problem):
            check(TaskType.CHAT, messages, "ok")


class TestLimits:
    def test_oversized_field_is_refused_with_its_size(self, settings: object) -> None:
        settings.FINCH_MAX_FIELD_CHARS = 10  # type: ignore[attr-defined]
        with pytest.raises(InvalidInput, match="input is 11 characters long; the limit is 10"):
            check(TaskType.GENERATION, "x" * 11, "ok")


class TestProjectSettings:
    def test_classification_needs_two_labels(self) -> None:
        with pytest.raises(InvalidInput, match="at least two labels"):
            validate_project_settings(TaskType.CLASSIFICATION, ["only"], None)

    def test_duplicate_labels_are_refused(self) -> None:
        with pytest.raises(InvalidInput, match="unique"):
            validate_project_settings(TaskType.CLASSIFICATION, ["a", "a"], None)

    def test_invalid_schema_is_refused(self) -> None:
        with pytest.raises(InvalidInput, match="not a valid JSON Schema"):
            validate_project_settings(TaskType.EXTRACTION, [], {"type": "banana"})

    def test_labels_are_trimmed(self) -> None:
        assert validate_project_settings(TaskType.CLASSIFICATION, [" a ", "b"], None) == (["a", "b"], None)


def test_every_schema_problem_of_an_output_is_named_up_to_five_then_counted() -> None:
    schema = {"type": "object", "required": [f"field_{n}" for n in range(7)]}
    with pytest.raises(InvalidInput) as refused:
        validate_content(
            task_type=TaskType.EXTRACTION,
            labels=[],
            output_schema=schema,
            input_value="Pay me",
            output_value="{}",
            require_output=True,
        )
    message = refused.value.message
    assert message.count("is a required property") == 5 and message.endswith("; and 2 more.")
    assert "'field_0' is a required property" in message


def test_a_chat_message_is_named_as_people_count_it() -> None:
    with pytest.raises(InvalidInput) as refused:
        validate_content(
            task_type=TaskType.CHAT,
            labels=[],
            output_schema=None,
            input_value=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": " "}],
            output_value="Hi",
            require_output=True,
        )
    assert refused.value.message.startswith("Message 2 (user) is empty")
