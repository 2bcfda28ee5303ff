"""Imports keep the user's data as given: no key is read twice or dropped, no value silently wins
over another, and a number given where text is expected stays as the file wrote it.

Most tests run the pipeline without a database (bytes in, MappedRow or RowError out); the ones
that look at what lands go through the REST API as an upload does.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from pytest_django import DjangoCaptureOnCommitCallbacks
from rest_framework.test import APIClient

from curation.errors import InvalidInput
from curation.models import ImportJob, LabelingItem, Project
from curation.pipeline.errors import RowError
from curation.pipeline.formats import MappedItem
from curation.pipeline.mapping import FieldMapping, MappedRow
from curation.services.imports import import_job_create
from tests.conftest import Team
from tests.curation.test_import_pipeline import read
from tests.curation.test_imports import new_project

GENERATION = "generation"
CHAT = "chat"
ClientFor = Callable[[User | None], APIClient]


def only_row(items: list[MappedItem]) -> MappedRow:
    [(_, row)] = items
    assert isinstance(row, MappedRow), row
    return row


def only_error(items: list[MappedItem]) -> str:
    [(_, error)] = items
    assert isinstance(error, RowError), error
    return str(error)


def jsonl(*records: dict[str, Any]) -> bytes:
    return "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records).encode()


def csv_file(*records: dict[str, str]) -> bytes:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(records[0]))
    writer.writeheader()
    writer.writerows(records)
    return buffer.getvalue().encode()


def message(role: str, content: Any, **fields: Any) -> dict[str, Any]:
    return {"role": role, "content": content, **fields}


@pytest.fixture
def upload(
    client_for: ClientFor, django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks
) -> Callable[..., Any]:
    """POST a file to the project's imports (the job runs before it returns)."""

    def post(user: User, project: Project, content: bytes, name: str = "rows.jsonl", **fields: str) -> Any:
        data: dict[str, Any] = {"file": SimpleUploadedFile(name, content), **fields}
        with django_capture_on_commit_callbacks(execute=True):
            return client_for(user).post(f"/api/projects/{project.pk}/imports/", data, format="multipart")

    return post


def finished(client_for: ClientFor, user: User, response: Any) -> dict[str, Any]:
    assert response.status_code == 202, response.content
    job: dict[str, Any] = client_for(user).get(f"/api/imports/{response.json()['id']}/").json()
    return job


# --- 1. The output field is never the input too ---------------------------------------------------


def test_given_an_output_field_that_is_an_input_alias_when_mapping_then_the_input_is_another_key() -> None:
    data = jsonl({"prompt": "What is 2+2?", "text": "Four."})

    row = only_row(read(data, mapping=FieldMapping(output_field="text")))

    assert row == MappedRow("What is 2+2?", "Four.", {}, None)


def test_given_an_input_field_that_is_an_output_alias_when_mapping_then_the_output_is_another_key() -> None:
    data = jsonl({"output": "What is 2+2?", "answer": "Four."})

    row = only_row(read(data, mapping=FieldMapping(input_field="output")))

    assert row == MappedRow("What is 2+2?", "Four.", {}, None)


def test_given_an_output_field_and_no_other_input_when_mapping_then_the_row_has_no_input() -> None:
    error = only_error(read(jsonl({"text": "Four.", "note": "n"}), mapping=FieldMapping(output_field="text")))

    assert error.startswith("No input field (input or text or prompt")


@pytest.mark.django_db
@pytest.mark.usefixtures("media_in_tmp")
def test_given_output_field_text_when_importing_a_prompt_and_text_file_then_the_prompt_is_the_input(
    team: Team, client_for: ClientFor, upload: Callable[..., Any]
) -> None:
    project = new_project(team, GENERATION)

    response = upload(
        team.annotator, project, jsonl({"prompt": "What is 2+2?", "text": "Four."}), output_field="text"
    )

    assert finished(client_for, team.annotator, response)["created"] == 1
    example = project.examples.get()
    assert (example.input, example.output, example.metadata) == ("What is 2+2?", "Four.", {})


@pytest.mark.django_db
@pytest.mark.usefixtures("media_in_tmp")
def test_given_the_same_key_as_input_and_output_field_when_uploading_then_400_names_both_and_no_job(
    team: Team, upload: Callable[..., Any]
) -> None:
    response = upload(
        team.annotator, team.project, jsonl({"text": "a"}), input_field="text", output_field=" text "
    )

    assert response.status_code == 400, response.content
    [error] = response.json()["errors"]
    assert error["field"] == "output_field"
    assert "input_field and output_field both name 'text'" in error["message"]
    assert not ImportJob.objects.exists()


@pytest.mark.django_db
def test_given_the_same_key_as_input_and_output_field_when_creating_a_job_then_it_is_refused(
    team: Team,
) -> None:
    with pytest.raises(InvalidInput, match="input_field and output_field both name 'body'"):
        import_job_create(
            project=team.project,
            user=team.lead,
            upload=io.BytesIO(b'{"body": "a"}\n'),
            filename="rows.jsonl",
            input_field="body",
            output_field="body",
        )
    assert not ImportJob.objects.exists()


def test_given_a_mapping_naming_one_key_twice_when_mapping_then_each_row_is_an_error() -> None:
    """A job stored before the check at creation still refuses its rows rather than doubling them."""
    error = only_error(read(jsonl({"text": "a"}), mapping=FieldMapping("text", "text")))

    assert error == "input_field and output_field both name 'text'."


# --- 2. status, source and duplicate_of are a user's data, except in Finch's own export ----------

USER_KEYS = {"status": "open", "source": "crm", "duplicate_of": "t-7"}


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(jsonl({"input": "Hi", "output": "Hello", **USER_KEYS}), id="jsonl"),
        pytest.param(csv_file({"input": "Hi", "output": "Hello", **USER_KEYS}), id="csv"),
        pytest.param(json.dumps([{"input": "Hi", "output": "Hello", **USER_KEYS}]).encode(), id="json"),
        pytest.param(
            jsonl({"input": "Hi", "output": "Hello", "id": 3, "metadata": {}, **USER_KEYS}),
            id="jsonl-without-external-id",
        ),
    ],
)
def test_given_status_source_and_duplicate_of_in_a_users_file_when_mapping_then_they_are_metadata(
    data: bytes,
) -> None:
    row = only_row(read(data))

    assert (row.input, row.output, row.metadata) == ("Hi", "Hello", USER_KEYS)


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(
            jsonl(
                {
                    "id": 4,
                    "input": "Hi",
                    "output": "Hello",
                    "metadata": {"channel": "app"},
                    "external_id": None,
                    "status": "approved",
                    "source": "manual",
                    "duplicate_of": None,
                }
            ),
            id="jsonl",
        ),
        pytest.param(
            b"id,input,output,status,source,external_id,duplicate_of,metadata\n"
            b'4,Hi,Hello,approved,manual,,,"{""channel"": ""app""}"\n',
            id="csv",
        ),
    ],
)
def test_given_finchs_own_export_when_mapping_then_its_old_status_source_and_duplicate_are_dropped(
    data: bytes,
) -> None:
    row = only_row(read(data))

    assert row == MappedRow("Hi", "Hello", {"channel": "app"}, None)


@pytest.mark.parametrize(
    ("line", "external_id"),
    [
        (b'{"id":5,"input":"Hi","metadata":{"channel":"app"},"output":"Hello","split":"train"}\n', "5"),
        (
            b'{"external_id":"crm-17","id":5,"input":"Hi","metadata":{"channel":"app"},"output":"Hello",'
            b'"split":"eval"}\n',
            "crm-17",
        ),
    ],
)
def test_given_a_frozen_versions_jsonl_when_mapping_then_its_old_split_is_dropped(
    line: bytes, external_id: str
) -> None:
    assert only_row(read(line)) == MappedRow("Hi", "Hello", {"channel": "app"}, external_id)


def test_given_a_split_column_in_a_users_file_when_mapping_then_it_is_metadata() -> None:
    row = only_row(read(b'{"input":"Hi","output":"Hello","split":"train"}\n'))
    assert row == MappedRow("Hi", "Hello", {"split": "train"}, None)


@pytest.mark.django_db
@pytest.mark.usefixtures("media_in_tmp")
def test_given_a_status_column_when_importing_unlabeled_inputs_then_it_is_kept_in_the_items_metadata(
    team: Team, client_for: ClientFor, upload: Callable[..., Any]
) -> None:
    content = b"text,status,source\nWhere is my card?,escalated,email\n"

    response = upload(team.lead, team.project, content, "inputs.csv", status="unlabeled")

    assert finished(client_for, team.lead, response)["created"] == 1
    item = LabelingItem.objects.get(project=team.project)
    assert (item.input, item.metadata) == ("Where is my card?", {"status": "escalated", "source": "email"})


# --- 3. OpenAI chat records ----------------------------------------------------------------------


@pytest.mark.parametrize("task_type", [CHAT, GENERATION])
def test_given_a_final_reply_of_weight_0_when_mapping_then_it_is_a_row_error_naming_it(
    task_type: str,
) -> None:
    record = {"messages": [message("user", "Hi"), message("assistant", "Hello", weight=0)]}

    error = only_error(read(jsonl(record), task_type=task_type))

    assert error.startswith(
        "Message 2 (assistant) has weight 0, so OpenAI would not train on it, but as the final"
    )


def test_given_names_and_weights_when_mapping_for_a_chat_project_then_they_are_kept_in_metadata() -> None:
    record = {
        "messages": [
            message("system", "Be brief."),
            message("user", "Hi", name="alice"),
            message("assistant", "Hello.", weight=0),
            message("user", "Where is my card?", name="alice"),
            message("assistant", "On its way.", weight=1),
        ]
    }

    row = only_row(read(jsonl(record), task_type=CHAT))

    assert [m["content"] for m in row.input] == ["Be brief.", "Hi", "Hello.", "Where is my card?"]
    assert all(set(m) == {"role", "content"} for m in row.input)
    assert row.output == "On its way."
    assert row.metadata == {
        "message_fields": {
            "2": {"name": "alice"},
            "3": {"weight": 0},
            "4": {"name": "alice"},
            "5": {"weight": 1},
        }
    }


def test_given_a_name_when_mapping_for_a_non_chat_project_then_it_is_kept_beside_the_system_message() -> None:
    record = {
        "messages": [
            message("system", "Classify."),
            message("user", "Rate?", name="bob"),
            message("assistant", "x"),
        ],
        "topic": "fx",
    }

    row = only_row(read(jsonl(record)))

    assert row == MappedRow(
        "Rate?", "x", {"topic": "fx", "message_fields": {"2": {"name": "bob"}}, "system": "Classify."}, None
    )


@pytest.mark.parametrize(
    ("messages", "expected"),
    [
        pytest.param(
            [message("system", "A"), message("system", "B"), message("user", "u"), message("assistant", "r")],
            "Message 2 is a second system message; a non-chat project keeps one (in metadata system): "
            "merge them into one.",
            id="second-system",
        ),
        pytest.param(
            [message("user", "u"), message("tool", "42", tool_call_id="c1"), message("assistant", "r")],
            "Message 2 has role 'tool'; a non-chat project's record holds a system message, one user "
            "message and the reply.",
            id="tool",
        ),
    ],
)
def test_given_messages_a_non_chat_example_cannot_hold_when_mapping_then_the_row_is_refused(
    messages: list[dict[str, Any]], expected: str
) -> None:
    assert only_error(read(jsonl({"messages": messages}))) == expected


@pytest.mark.parametrize(
    ("metadata", "landed"),
    [
        pytest.param({"system": "Mine."}, None, id="different"),
        pytest.param({"system": "Classify."}, {"system": "Classify."}, id="same"),
    ],
)
def test_given_a_metadata_system_key_and_a_system_message_when_mapping_then_neither_is_lost(
    metadata: dict[str, str], landed: dict[str, str] | None
) -> None:
    record = {
        "messages": [message("system", "Classify."), message("user", "Rate?"), message("assistant", "x")],
        "metadata": metadata,
    }

    items = read(jsonl(record))

    if landed is None:
        assert only_error(items) == (
            "metadata 'system' is given two different values, in the record's metadata and in its "
            "system message, and only one could be kept: rename or remove one."
        )
    else:
        assert only_row(items).metadata == landed


@pytest.mark.parametrize("task_type", [CHAT, GENERATION])
@pytest.mark.parametrize(
    ("messages", "expected"),
    [
        pytest.param(
            [
                message("user", "Rate?"),
                message("assistant", None, tool_calls=[{"id": "c1", "type": "function"}]),
                message("tool", "1.08", tool_call_id="c1"),
                message("assistant", "1.08"),
            ],
            "Message 2 (assistant) has tool calls, which Finch does not support: content must be text.",
            id="tool-calls",
        ),
        pytest.param(
            [message("user", [{"type": "text", "text": "Rate?"}]), message("assistant", "1.08")],
            "Message 1 (user) has content parts (a list), which Finch does not support: content must be text.",
            id="content-parts",
        ),
        pytest.param(
            [message("user", "Rate?"), message("assistant", [{"type": "text", "text": "1.08"}])],
            "Message 2 (assistant) has content parts (a list), which Finch does not support: content must be text.",
            id="content-parts-in-the-reply",
        ),
    ],
)
def test_given_tool_calls_or_content_parts_when_mapping_then_the_error_says_they_are_not_supported(
    messages: list[dict[str, Any]], expected: str, task_type: str
) -> None:
    assert only_error(read(jsonl({"messages": messages}), task_type=task_type)) == expected


@pytest.mark.django_db
@pytest.mark.usefixtures("media_in_tmp")
def test_given_an_openai_file_with_names_and_weights_when_imported_into_a_chat_project_then_they_land_in_metadata(
    team: Team, client_for: ClientFor, upload: Callable[..., Any]
) -> None:
    project = new_project(team, CHAT)
    kept = {"messages": [message("user", "Hi", name="alice"), message("assistant", "Hello.", weight=1)]}
    skipped = {"messages": [message("user", "Bye"), message("assistant", "Goodbye.", weight=0)]}

    job = finished(client_for, team.annotator, upload(team.annotator, project, jsonl(kept, skipped)))

    assert (job["created"], job["failed"]) == (1, 1)
    assert job["errors"][0]["line"] == 2 and "has weight 0" in job["errors"][0]["error"]
    example = project.examples.get()
    assert (example.output, example.metadata) == (
        "Hello.",
        {"message_fields": {"1": {"name": "alice"}, "2": {"weight": 1}}},
    )


# --- 4. A key given twice in one record ------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "key"),
    [
        pytest.param(
            jsonl({"input": "x", "output": "o", "metadata": {"lang": "en"}, "lang": "de"}), "lang", id="jsonl"
        ),
        pytest.param(
            csv_file({"input": "x", "output": "o", "metadata": '{"lang": "en"}', "lang": "de"}),
            "lang",
            id="csv",
        ),
        pytest.param(
            jsonl({"instruction": "x", "output": "o", "metadata": {"n": 1}, "n": True}),
            "n",
            id="alpaca-1-is-not-true",
        ),
        pytest.param(
            jsonl(
                {"messages": [message("user", "x"), message("assistant", "o")], "metadata": {"k": 1}, "k": 2}
            ),
            "k",
            id="openai-chat",
        ),
    ],
)
def test_given_metadata_and_a_key_with_different_values_when_mapping_then_the_row_names_the_key(
    data: bytes, key: str
) -> None:
    assert only_error(read(data)) == (
        f"metadata {key!r} is given two different values, in the record's metadata and in the "
        f"record's key {key!r}, and only one could be kept: rename or remove one."
    )


def test_given_metadata_and_a_key_with_the_same_value_when_mapping_then_the_row_lands() -> None:
    data = jsonl(
        {"input": "x", "output": "o", "metadata": {"lang": "en", "n": [1.5]}, "lang": "en", "n": [1.50]}
    )

    assert only_row(read(data)).metadata == {"lang": "en", "n": [1.5]}


# --- 5. Numbers stay as written; repeated keys are refused ----------------------------------------

NUMBERS = ["3.10", "1e5", "12345678901234567890.5", "-0.0", "2.50E-3", "1E+2", "7"]


@pytest.mark.parametrize("literal", NUMBERS)
def test_given_a_number_as_the_output_when_mapping_then_it_is_the_text_the_file_wrote(literal: str) -> None:
    lines = f'{{"input": "n", "output": {literal}}}\n'.encode()
    array = f'[{{"input": "n", "output": {literal}}}]'.encode()

    for data in (lines, array):
        assert only_row(read(data)).output == literal


def test_given_numbers_as_input_and_in_other_formats_when_mapping_then_each_is_the_text_as_written() -> None:
    plain = b'{"input": 0.10, "output": "o"}\n'
    alpaca = b'{"instruction": "Pi?", "output": 3.140}\n'
    chat = b'{"messages": [{"role": "user", "content": 1.0}, {"role": "assistant", "content": 2.00}]}\n'

    assert only_row(read(plain)).input == "0.10"
    assert only_row(read(alpaca)).output == "3.140"
    assert (only_row(read(chat)).input, only_row(read(chat)).output) == ("1.0", "2.00")
    assert only_row(read(chat, task_type=CHAT)).input == [{"role": "user", "content": "1.0"}]


@pytest.mark.django_db
@pytest.mark.usefixtures("media_in_tmp")
def test_given_numeric_outputs_when_imported_then_the_stored_outputs_are_the_files_text(
    team: Team, client_for: ClientFor, upload: Callable[..., Any]
) -> None:
    project = new_project(team, GENERATION)
    content = b'{"input": "a", "output": 3.10}\n{"input": "b", "output": 1e5}\n{"input": "c", "output": 12345678901234567890.5}\n'

    assert finished(client_for, team.annotator, upload(team.annotator, project, content))["created"] == 3
    assert list(project.examples.order_by("id").values_list("output", flat=True)) == [
        "3.10",
        "1e5",
        "12345678901234567890.5",
    ]


@pytest.mark.parametrize(
    ("data", "key"),
    [
        pytest.param(
            b'{"input": "Pay 5", "output": {"amount": 5, "amount": 6}}\n', "amount", id="jsonl-output"
        ),
        pytest.param(
            b'[{"input": "Pay 5", "output": {"amount": 5, "amount": 6}}]', "amount", id="json-output"
        ),
        pytest.param(b'{"input": "Pay 5", "input": "Pay 6"}\n', "input", id="record"),
        pytest.param(b'{"input": "x", "metadata": {"a": {"n": 1, "n": 2}}}\n', "n", id="nested-metadata"),
        pytest.param(b'input,metadata\nx,"{""n"": 1, ""n"": 2}"\n', "n", id="csv-metadata-cell"),
    ],
)
def test_given_an_object_that_repeats_a_key_when_reading_then_the_row_is_an_error_naming_it(
    data: bytes, key: str
) -> None:
    good = b"input,metadata\nfine,\n" if data.startswith(b"input,") else b'{"input": "fine"}\n'
    if data.startswith(b"["):
        good = b'[{"input": "fine"},'
        data = data[1:]
    elif data.startswith(b"input,"):
        data = data.removeprefix(b"input,metadata\n")

    items = read(good + data)

    assert only_row(items[:1]).input == "fine"
    error = only_error(items[1:])
    assert f"gives the key {key!r} twice in one object, and only one of its values could be kept" in error


@pytest.mark.django_db
@pytest.mark.usefixtures("media_in_tmp")
def test_given_an_extraction_output_repeating_a_key_when_imported_then_that_row_fails_and_the_others_land(
    team: Team, client_for: ClientFor, upload: Callable[..., Any]
) -> None:
    project = new_project(team, "extraction")
    content = b'{"input": "Pay 5", "output": {"amount": 5}}\n{"input": "Pay 6", "output": {"amount": 6, "amount": 7}}\n'

    job = finished(client_for, team.annotator, upload(team.annotator, project, content))

    assert (job["created"], job["failed"]) == (1, 1)
    assert job["errors"] == [
        {
            "line": 2,
            "error": "The record gives the key 'amount' twice in one object, and only one of its values "
            "could be kept: rename or remove one.",
        }
    ]


def test_given_a_json_array_whose_first_alpaca_record_repeats_a_key_when_detecting_then_the_next_decides() -> (
    None
):
    data = b'[{"instruction": "a", "instruction": "b", "output": "o"}, {"instruction": "c", "input": "d", "output": "e"}]'

    items = read(data)

    assert "twice in one object" in str(items[0][1])
    assert items[1][1] == MappedRow("c\n\nd", "e", {}, None)


def test_an_alpaca_record_takes_its_output_from_an_output_alias_or_the_field_named() -> None:
    # A walk-through's instruction/response file landed every output in metadata, and with
    # output_field=response the field named was ignored
    response = b'{"instruction": "Card lost, what now?", "response": "lost_or_stolen_card"}\n'

    row = only_row(read(response))
    assert (row.input, row.output, row.metadata) == ("Card lost, what now?", "lost_or_stolen_card", {})
    named = only_row(read(response, mapping=FieldMapping(output_field="response")))
    assert named.output == "lost_or_stolen_card"
    assert "No output field (answer) in the record" in only_error(
        read(response, mapping=FieldMapping(output_field="answer"))
    )
