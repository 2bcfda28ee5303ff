"""Bulk import and export end to end: the REST API, the import job, the management command.

Celery runs eagerly in tests and the import is queued when the upload's transaction commits, so
uploads run inside django_capture_on_commit_callbacks(execute=True): when the POST returns, the
job has run.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import logging
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.db import connection
from pytest_django import DjangoCaptureOnCommitCallbacks, Settings
from rest_framework.test import APIClient

from curation.models import Example, ExampleStatus, FlagKind, ImportJob, JobStatus, Project, Role
from curation.pipeline import readers
from curation.services.examples import example_create
from curation.services.flags import flag_create
from curation.services.imports import import_job_create, import_run
from curation.services.jobs import job_run
from curation.services.projects import project_create
from tests.conftest import Team
from tests.factories import LABELS, ExampleFactory, MembershipFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_in_tmp")]

ClientFor = Callable[[User | None], APIClient]
EXPORT_CSV_COLUMNS = ["id", "input", "output", "status", "source", "external_id", "duplicate_of", "metadata"]
EXTRACTION_SCHEMA = {
    "type": "object",
    "properties": {"amount": {"type": "number"}, "currency": {"type": "string"}},
    "required": ["amount"],
}


@dataclass
class Api:
    """Upload files and read import jobs through the REST API, as a given user."""

    client_for: ClientFor
    capture: DjangoCaptureOnCommitCallbacks

    def upload(
        self, user: User, project: Project, content: bytes, name: str = "rows.jsonl", **fields: str
    ) -> Any:
        data: dict[str, Any] = {"file": SimpleUploadedFile(name, content), **fields}
        with self.capture(execute=True):
            return self.client_for(user).post(
                f"/api/projects/{project.pk}/imports/", data, format="multipart"
            )

    def job(self, user: User, job_id: int) -> dict[str, Any]:
        response = self.client_for(user).get(f"/api/imports/{job_id}/")
        assert response.status_code == 200, response.content
        body: dict[str, Any] = response.json()
        return body

    def imported(
        self, user: User, project: Project, content: bytes, name: str = "rows.jsonl", **fields: str
    ) -> dict[str, Any]:
        """Upload, expect 202, and return the finished job as GET /api/imports/{id}/ shows it."""
        response = self.upload(user, project, content, name, **fields)
        assert response.status_code == 202, response.content
        assert response.json()["status"] == JobStatus.QUEUED
        return self.job(user, response.json()["id"])

    def export(self, user: User, project: Project, **params: str) -> Any:
        return self.client_for(user).get(f"/api/projects/{project.pk}/examples/export/", params)


@pytest.fixture
def api(client_for: ClientFor, django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks) -> Api:
    return Api(client_for, django_capture_on_commit_callbacks)


def new_project(team: Team, task_type: str, **settings: Any) -> Project:
    """A project led by the team's lead, with the team's annotator and reviewer as members."""
    project = project_create(
        user=team.lead,
        name=f"{task_type} project",
        task_type=task_type,
        target_behavior="Be useful.",
        **settings,
    )
    MembershipFactory.create(project=project, user=team.annotator, role=Role.ANNOTATOR)
    MembershipFactory.create(project=project, user=team.reviewer, role=Role.REVIEWER)
    return project


def jsonl(*records: dict[str, Any]) -> bytes:
    return "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records).encode()


def counts(job: dict[str, Any]) -> tuple[Any, ...]:
    return (job["status"], job["total"], job["created"], job["skipped_existing"], job["failed"])


def contents(project: Project) -> list[tuple[Any, str]]:
    """(input as the API shows it, output) of the project's examples, oldest first."""
    return [(example.input_value, example.output) for example in project.examples.order_by("id")]


def external_ids(project: Project) -> list[str | None]:
    return list(project.examples.order_by("id").values_list("external_id", flat=True))


def chat(*messages: tuple[str, str]) -> list[dict[str, str]]:
    return [{"role": role, "content": content} for role, content in messages]


# --- A first import ---------------------------------------------------------------------------


def test_given_a_jsonl_file_when_an_annotator_imports_it_then_valid_rows_land_and_bad_ones_are_reported(
    team: Team, api: Api
) -> None:
    data = (
        b'{"text": "Where is my card?", "label": "card_arrival", "channel": "app"}\n'
        b'{"text": "  Spaces  and CASE kept ", "label": "exchange_rate", "external_id": "t-2"}\n'
        b"\n"
        b'{"text": "What is this?", "label": "not_a_label"}\n'
        b'{"text": "broken", \n'
        b'{"label": "card_arrival"}\n'
        b'{"text": "I lost my card", "label": "lost_or_stolen_card", "metadata": {"batch": 3}}\n'
    )

    job = api.imported(team.annotator, team.project, data)

    assert counts(job) == ("succeeded", 6, 3, 0, 3)
    assert job["errors"] == [
        {"line": 4, "error": "output 'not_a_label' is not one of the project's labels."},
        {"line": 5, "error": job["errors"][1]["error"]},
        {"line": 6, "error": job["errors"][2]["error"]},
    ]
    assert job["errors"][1]["error"].startswith("Not valid JSON")
    assert job["errors"][2]["error"].startswith("No input field")
    assert (job["format"], job["detected_format"], job["filename"]) == ("auto", "jsonl", "rows.jsonl")
    assert (job["progress"], job["error"], job["initial_status"], job["created_by"]) == (
        1.0,
        "",
        "draft",
        team.annotator.username,
    )
    assert job["size"] == len(data)
    examples = list(team.project.examples.order_by("id"))
    assert [(e.input, e.output, e.metadata, e.external_id) for e in examples] == [
        ("Where is my card?", "card_arrival", {"channel": "app"}, None),
        ("  Spaces  and CASE kept ", "exchange_rate", {}, "t-2"),
        ("I lost my card", "lost_or_stolen_card", {"batch": 3}, None),
    ]
    assert {(e.status, e.source, e.created_by_id, e.revision) for e in examples} == {
        ("draft", f"import:{job['id']}", team.annotator.pk, 1)
    }


@pytest.mark.parametrize(
    ("name", "content", "fields", "detected"),
    [
        pytest.param(
            "rows.csv",
            b"text;label;lang\nWhere is my card?;card_arrival;en\nRate?;exchange_rate;fr\n",
            {},
            "csv",
            id="csv",
        ),
        pytest.param(
            "rows.tsv",
            b"prompt\tcompletion\tlang\nWhere is my card?\tcard_arrival\ten\nRate?\texchange_rate\tfr\n",
            {"format": "csv"},
            "csv",
            id="tsv",
        ),
        pytest.param(
            "rows.json",
            b'[{"question": "Where is my card?", "answer": "card_arrival", "lang": "en"},\n'
            b' {"question": "Rate?", "answer": "exchange_rate", "lang": "fr"}]',
            {},
            "json",
            id="json",
        ),
        pytest.param(
            "rows.jsonl",
            b'{"messages": [{"role": "user", "content": "Where is my card?"}, {"role": "assistant", "content": "card_arrival"}], "lang": "en"}\n'
            b'{"messages": [{"role": "user", "content": "Rate?"}, {"role": "assistant", "content": "exchange_rate"}], "lang": "fr"}\n',
            {},
            "openai_chat",
            id="openai-chat",
        ),
        pytest.param(
            "rows.txt",
            b"body|topic|lang\nWhere is my card?|card_arrival|en\nRate?|exchange_rate|fr\n",
            {"input_field": "body", "output_field": "topic"},
            "csv",
            id="mapped-fields",
        ),
    ],
)
def test_given_each_format_when_imported_then_rows_land_with_extra_columns_as_metadata(
    team: Team, api: Api, name: str, content: bytes, fields: dict[str, str], detected: str
) -> None:
    job = api.imported(team.annotator, team.project, content, name, **fields)

    assert counts(job) == ("succeeded", 2, 2, 0, 0)
    assert job["detected_format"] == detected
    assert [(e.input, e.output, e.metadata) for e in team.project.examples.order_by("id")] == [
        ("Where is my card?", "card_arrival", {"lang": "en"}),
        ("Rate?", "exchange_rate", {"lang": "fr"}),
    ]


def test_given_alpaca_records_when_imported_then_instruction_and_input_form_the_input(
    team: Team, api: Api
) -> None:
    project = new_project(team, "generation")
    data = json.dumps(
        [
            {"instruction": "Translate to French.", "input": "Good morning", "output": "Bonjour"},
            {"instruction": "Name a colour.", "output": "Blue", "source_set": "demo"},
        ]
    ).encode()

    job = api.imported(team.annotator, project, data, "alpaca.json")

    assert counts(job) == ("succeeded", 2, 2, 0, 0)
    assert job["detected_format"] == "alpaca"
    assert [(e.input, e.output, e.metadata) for e in project.examples.order_by("id")] == [
        ("Translate to French.\n\nGood morning", "Bonjour", {}),
        ("Name a colour.", "Blue", {"source_set": "demo"}),
    ]


def test_given_a_utf8_bom_when_imported_then_the_first_column_is_still_found(team: Team, api: Api) -> None:
    data = b"\xef\xbb\xbfinput,output\nWhere is my card?,card_arrival\n"

    job = api.imported(team.annotator, team.project, data, "rows.csv")

    assert counts(job) == ("succeeded", 1, 1, 0, 0)
    assert contents(team.project) == [("Where is my card?", "card_arrival")]


def test_given_rows_without_output_when_imported_as_draft_then_they_land_with_empty_output(
    team: Team, api: Api
) -> None:
    job = api.imported(
        team.annotator, team.project, jsonl({"input": "Where is my card?"}, {"input": "Rate?"})
    )

    assert counts(job) == ("succeeded", 2, 2, 0, 0)
    assert contents(team.project) == [("Where is my card?", ""), ("Rate?", "")]


def test_given_a_misspelled_output_field_when_imported_then_each_row_fails_naming_it(
    team: Team, api: Api
) -> None:
    data = jsonl({"input": "Where is my card?", "label": "card_arrival"}, {"input": "Rate?", "label": "x"})

    job = api.imported(team.annotator, team.project, data, output_field="lable")

    assert counts(job) == ("failed", 2, 0, 0, 2)
    assert job["error"] == (
        "Every row failed (2 of 2), so nothing was imported; the row errors say why. "
        "The first, line 1: No output field (lable) in the record; its keys: input, label."
    )
    assert job["errors"] == [
        {"line": 1, "error": "No output field (lable) in the record; its keys: input, label."},
        {"line": 2, "error": "No output field (lable) in the record; its keys: input, label."},
    ]
    assert not team.project.examples.exists()


def test_given_a_json_array_whose_every_record_fails_when_imported_then_the_job_fails_naming_the_record(
    team: Team, api: Api
) -> None:
    data = json.dumps([{"body": "Where is my card?"}, {"body": "Rate?"}]).encode()

    job = api.imported(team.annotator, team.project, data, "rows.json")

    assert counts(job) == ("failed", 2, 0, 0, 2)
    assert job["error"].endswith(
        "The first, Record 1: No input field (input or text or prompt or "
        "question or query or instruction) in the record; its keys: body."
    )


def test_given_a_file_whose_rows_are_all_there_already_when_imported_again_then_it_succeeds(
    team: Team, api: Api
) -> None:
    data = jsonl({"input": "Where is my card?", "output": "card_arrival"})
    api.imported(team.annotator, team.project, data)

    again = api.imported(team.annotator, team.project, data)

    assert counts(again) == ("succeeded", 1, 0, 1, 0)


def test_given_a_first_alpaca_record_over_64_kib_when_imported_then_it_is_read_as_alpaca(
    team: Team, api: Api
) -> None:
    project = new_project(team, "generation")
    long_input = "word " * 16_000  # 80,000 characters: under the field limit, over 64 KiB
    data = jsonl(
        {"instruction": "Summarise.", "input": long_input, "output": "Words."},
        {"instruction": "Add 1 and 2.", "output": "3"},
    )

    job = api.imported(team.annotator, project, data)

    assert counts(job) == ("succeeded", 2, 2, 0, 0)
    assert job["detected_format"] == "alpaca"
    assert contents(project) == [(f"Summarise.\n\n{long_input}", "Words."), ("Add 1 and 2.", "3")]


# --- Bad rows ---------------------------------------------------------------------------------------


BAD_ROWS = [
    # (task type, file name, the bad record's bytes, upload fields, error fragment)
    pytest.param(
        "classification",
        "rows.jsonl",
        b'{"input": "What?", "output": "no_such_label"}',
        {},
        "output 'no_such_label' is not one of the project's labels.",
        id="unknown-label",
    ),
    pytest.param(
        "extraction",
        "rows.jsonl",
        b'{"input": "Pay me", "output": "{amount: 5"}',
        {},
        "output is not valid JSON",
        id="extraction-invalid-json",
    ),
    pytest.param(
        "extraction",
        "rows.jsonl",
        b'{"input": "Pay me", "output": {"amount": "five"}}',
        {},
        "output does not match the project's output_schema: at amount",
        id="extraction-schema-violation",
    ),
    pytest.param(
        "extraction",
        "rows.jsonl",
        b'{"input": "Pay me", "output": {"amount": "five", "currency": 5}}',
        {},
        "output_schema: at amount: 'five' is not of type 'number'; at currency: 5 is not of type 'string'.",
        id="extraction-every-schema-problem",
    ),
    pytest.param(
        "extraction",
        "rows.jsonl",
        b'{"input": "Pay me", "output": {"currency": "EUR"}}',
        {},
        "'amount' is a required property",
        id="extraction-missing-property",
    ),
    pytest.param(
        "chat",
        "rows.jsonl",
        b'{"input": [{"role": "robot", "content": "hi"}], "output": "hello"}',
        {},
        "Message 1: role 'robot' is not one of system, user, assistant (input[0].role).",
        id="chat-bad-role",
    ),
    pytest.param(
        "chat",
        "rows.jsonl",
        b'{"input": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}], "output": "x"}',
        {},
        "The last input message must be from the user",
        id="chat-input-ends-with-reply",
    ),
    pytest.param(
        "chat",
        "rows.jsonl",
        b'{"input": [{"role": "user", "content": "  "}], "output": "x"}',
        {},
        "Message 1 (user) is empty: write its text or remove it (input[0].content).",
        id="chat-empty-message",
    ),
    pytest.param(
        "chat",
        "rows.jsonl",
        b'{"input": "just text", "output": "x"}',
        {},
        "For a chat project, input must be a list of {role, content} messages.",
        id="chat-input-not-messages",
    ),
    pytest.param(
        "chat",
        "rows.jsonl",
        b'{"messages": [{"role": "user", "content": "hi"}, {"role": "user", "content": "again"}]}',
        {"format": "openai_chat"},
        "The last message must be the assistant's reply (the output).",
        id="openai-chat-no-reply",
    ),
    pytest.param(
        "generation",
        "rows.jsonl",
        b'{"input": "Say hi", "output": "   "}',
        {"status": "submitted"},
        "output must not be empty.",
        id="empty-output-submitted",
    ),
    pytest.param(
        "generation",
        "rows.jsonl",
        b'{"prompt_text": "Say hi", "output": "hi"}',
        {},
        "No input field",
        id="missing-input-field",
    ),
    pytest.param(
        "generation",
        "rows.jsonl",
        b'{"input": "  ", "output": "hi"}',
        {},
        "input must not be empty.",
        id="blank-input",
    ),
    pytest.param(
        "generation",
        "rows.jsonl",
        b'{"input": "Say hi", output}',
        {},
        "Not valid JSON",
        id="invalid-json-line",
    ),
    pytest.param(
        "generation",
        "rows.jsonl",
        b'["input", "output"]',
        {},
        "Expected a JSON object, found list.",
        id="not-an-object",
    ),
    pytest.param(
        "generation",
        "rows.csv",
        b"Say hi,hi,extra",
        {},
        "Expected 2 columns, found 3.",
        id="wrong-column-count",
    ),
    pytest.param(
        "generation",
        "rows.jsonl",
        b'{"input": "caf\xe9", "output": "x"}',
        {},
        "not valid UTF-8",
        id="invalid-utf8",
    ),
    pytest.param(
        "generation",
        "rows.jsonl",
        b'{"input": "nul \\u0000 inside", "output": "x"}',
        {},
        "input contains a NUL character.",
        id="nul-in-a-field",
    ),
    pytest.param(
        "generation",
        "rows.jsonl",
        b'{"input": "Say hi", "output": "hi", "metadata": "not an object"}',
        {},
        "metadata must be a JSON object.",
        id="metadata-not-an-object",
    ),
]


@pytest.mark.parametrize(("task_type", "name", "bad", "fields", "message"), BAD_ROWS)
def test_given_one_bad_row_when_imported_then_it_is_reported_by_line_and_the_others_land(
    team: Team, api: Api, task_type: str, name: str, bad: bytes, fields: dict[str, str], message: str
) -> None:
    project_settings: dict[str, dict[str, Any]] = {
        "classification": {"labels": LABELS},
        "extraction": {"output_schema": EXTRACTION_SCHEMA},
    }
    settings = project_settings.get(task_type, {})
    project = new_project(team, task_type, **settings)
    good = {
        "classification": (
            '{"input": "Where is my card?", "output": "card_arrival"}',
            "Rate?",
            "exchange_rate",
        ),
        "extraction": ('{"input": "Pay 5", "output": "{\\"amount\\": 5}"}', "Pay 7", '{"amount": 7}'),
        "chat": ('{"input": [{"role": "user", "content": "Hi"}], "output": "Hello"}', "Bye", "Goodbye"),
        "generation": ('{"input": "Say hi", "output": "hi"}', "Say bye", "bye"),
    }[task_type]
    if name.endswith(".csv"):
        lines = [b"input,output", b"first,one", bad, b"last,two"]
        bad_line = 3
    else:
        last_input: Any = [{"role": "user", "content": good[1]}] if task_type == "chat" else good[1]
        last = json.dumps({"input": last_input, "output": good[2]}).encode()
        if fields.get("format") == "openai_chat":
            lines = [
                jsonl({"messages": chat(("user", "Hi"), ("assistant", "Hello"))}).strip(),
                bad,
                jsonl({"messages": chat(("user", good[1]), ("assistant", good[2]))}).strip(),
            ]
        else:
            lines = [good[0].encode(), bad, last]
        bad_line = 2
    user = team.reviewer if fields.get("status") == "submitted" else team.annotator

    job = api.imported(user, project, b"\n".join(lines) + b"\n", name, **fields)

    assert counts(job) == ("succeeded", 3, 2, 0, 1)
    assert [error["line"] for error in job["errors"]] == [bad_line]
    assert message in job["errors"][0]["error"]
    assert project.examples.count() == 2


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(
            b"input,output,note\nfirst,one,n\nsecond,two,caf\xe9\nlast,three,n\n", id="csv-extra-column"
        ),
        pytest.param(
            b'{"input": "first", "output": "one"}\n{"input": "second", "output": "two", "note": "\xff"}\n'
            b'{"input": "last", "output": "three"}\n',
            id="jsonl-extra-key",
        ),
    ],
)
def test_given_invalid_utf8_in_an_extra_column_when_imported_then_only_that_row_fails(
    team: Team, api: Api, content: bytes
) -> None:
    """Invalid UTF-8 in a row is a row error, wherever in the row it is (here: what becomes metadata)."""
    project = new_project(team, "generation")

    job = api.imported(
        team.annotator, project, content, "rows.csv" if content.startswith(b"input") else "rows.jsonl"
    )

    assert counts(job) == ("succeeded", 3, 2, 0, 1)
    assert "not valid UTF-8" in job["errors"][0]["error"]
    assert [output for _, output in contents(project)] == ["one", "three"]


def test_given_more_than_1000_bad_rows_when_imported_then_all_are_counted_and_the_first_1000_listed(
    team: Team, api: Api
) -> None:
    data = b'{"input": "Where is my card?", "output": "card_arrival"}\n' + b"not json\n" * 1005

    job = api.imported(team.annotator, team.project, data)

    assert counts(job) == ("succeeded", 1006, 1, 0, 1005)
    assert len(job["errors"]) == 1000
    assert [error["line"] for error in job["errors"]] == list(range(2, 1002))


# --- Identity and idempotency ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content"),
    [
        pytest.param(
            "rows.jsonl",
            jsonl(
                {"input": "Where is my card?", "output": "card_arrival"},
                {"input": "Rate?", "output": "exchange_rate"},
                {"input": "Lost it", "output": "lost_or_stolen_card", "external_id": "x-3"},
            ),
            id="jsonl",
        ),
        pytest.param(
            "rows.csv",
            b"input,output,external_id\nWhere is my card?,card_arrival,\nRate?,exchange_rate,\nLost it,lost_or_stolen_card,x-3\n",
            id="csv",
        ),
        pytest.param(
            "rows.json",
            json.dumps(
                [
                    {"input": "Where is my card?", "output": "card_arrival"},
                    {"input": "Rate?", "output": "exchange_rate"},
                    {"input": "Lost it", "output": "lost_or_stolen_card", "external_id": "x-3"},
                ]
            ).encode(),
            id="json",
        ),
    ],
)
def test_given_an_imported_file_when_imported_again_then_nothing_is_created(
    team: Team, api: Api, name: str, content: bytes
) -> None:
    first = api.imported(team.annotator, team.project, content, name)
    before = list(team.project.examples.values_list("id", "input", "output", "external_id").order_by("id"))

    second = api.imported(team.lead, team.project, content, name)

    assert counts(first) == ("succeeded", 3, 3, 0, 0)
    assert counts(second) == ("succeeded", 3, 0, 3, 0)
    assert (
        list(team.project.examples.values_list("id", "input", "output", "external_id").order_by("id"))
        == before
    )


def test_given_a_file_with_old_and_new_rows_when_imported_then_only_the_new_rows_are_created(
    team: Team, api: Api
) -> None:
    api.imported(
        team.annotator, team.project, jsonl({"input": "Where is my card?", "output": "card_arrival"})
    )
    ExampleFactory.create(project=team.project, input="Made by hand", output="card_linking")

    job = api.imported(
        team.annotator,
        team.project,
        jsonl(
            {"input": "Where is my card?", "output": "card_arrival"},
            {"input": "Made by hand", "output": "card_linking"},
            {"input": "Brand new", "output": "exchange_rate"},
        ),
    )

    assert counts(job) == ("succeeded", 3, 1, 2, 0)
    assert team.project.examples.count() == 3
    assert team.project.examples.get(input="Brand new").source == f"import:{job['id']}"


def test_given_content_that_differs_only_by_nfc_or_outer_space_then_it_is_the_same_example(
    team: Team, api: Api
) -> None:
    project = new_project(team, "generation")
    api.imported(team.annotator, project, jsonl({"input": "Un café, s'il vous plaît", "output": "Voilà"}))
    decomposed = unicodedata.normalize("NFD", "Un café, s'il vous plaît")
    assert decomposed != "Un café, s'il vous plaît"

    job = api.imported(
        team.annotator,
        project,
        jsonl(
            {"input": decomposed, "output": "Voilà"},
            {"input": "  Un café, s'il vous plaît\n", "output": " Voilà "},
            {"input": "un café, s'il vous plaît", "output": "Voilà"},
            {"input": "Un café,  s'il vous plaît", "output": "Voilà"},
            {"input": "Un café, s'il vous plaît!", "output": "Voilà"},
        ),
    )

    assert counts(job) == ("succeeded", 5, 3, 2, 0)
    assert [input for input, _ in contents(project)] == [
        "Un café, s'il vous plaît",
        "un café, s'il vous plaît",
        "Un café,  s'il vous plaît",
        "Un café, s'il vous plaît!",
    ]


def test_given_an_external_id_when_imported_again_with_other_content_then_it_is_a_row_error(
    team: Team, api: Api
) -> None:
    api.imported(
        team.annotator,
        team.project,
        jsonl(
            {"external_id": "t-1", "input": "Where is my card?", "output": "card_arrival"},
            {"id": 17, "input": "Rate?", "output": "exchange_rate"},
        ),
    )

    job = api.imported(
        team.annotator,
        team.project,
        jsonl(
            {"external_id": "t-1", "input": "Where is my card now?", "output": "card_linking"},
            {"id": "17", "input": "Rate today?", "output": "exchange_rate"},
            {"external_id": "t-3", "input": "Where is my card now?", "output": "card_linking"},
        ),
    )

    assert counts(job) == ("succeeded", 3, 1, 0, 2)
    held = dict(team.project.examples.values_list("external_id", "id"))
    assert job["errors"] == [
        {
            "line": line,
            "error": f"external_id {external_id} is already example {held[external_id]} with another"
            " input or output; not imported.",
        }
        for line, external_id in [(1, "t-1"), (2, "17")]
    ]
    assert sorted(team.project.examples.values_list("external_id", "input", "output")) == [
        ("17", "Rate?", "exchange_rate"),
        ("t-1", "Where is my card?", "card_arrival"),
        ("t-3", "Where is my card now?", "card_linking"),
    ]


@pytest.mark.parametrize("name", ["rows.jsonl", "rows.csv"])
def test_given_duplicates_within_one_file_when_imported_then_the_first_of_each_lands(
    team: Team, api: Api, name: str
) -> None:
    records = [
        {"external_id": "", "input": "Where is my card?", "output": "card_arrival"},
        {"external_id": "", "input": "Where is my card?", "output": "card_arrival"},
        {"external_id": "e-1", "input": "Rate?", "output": "exchange_rate"},
        {"external_id": "e-1", "input": "Rate now?", "output": "exchange_rate"},
        {"external_id": "", "input": " Where is my card? ", "output": "card_arrival"},
        {"external_id": "", "input": "Lost it", "output": "lost_or_stolen_card"},
    ]
    if name.endswith(".csv"):
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=["external_id", "input", "output"])
        writer.writeheader()
        writer.writerows(records)
        content = buffer.getvalue().encode()
    else:
        content = jsonl(*records)

    job = api.imported(team.annotator, team.project, content, name)

    assert counts(job) == ("succeeded", 6, 3, 2, 1)
    first = 2 if name.endswith(".csv") else 1  # the CSV header is line 1
    e1 = team.project.examples.get(external_id="e-1").pk
    assert job["errors"] == [
        {
            "line": first + 3,
            "error": f"external_id e-1 is already example {e1} (line {first + 2} of this file) with"
            " another input or output; not imported.",
        }
    ]
    assert contents(team.project) == [
        ("Where is my card?", "card_arrival"),
        ("Rate?", "exchange_rate"),
        ("Lost it", "lost_or_stolen_card"),
    ]


# --- Initial status and parameters ---------------------------------------------------------------


def test_given_an_annotator_when_importing_as_approved_then_403_and_no_job(team: Team, api: Api) -> None:
    response = api.upload(
        team.annotator,
        team.project,
        jsonl({"input": "Where is my card?", "output": "card_arrival"}),
        status="approved",
    )

    assert response.status_code == 403
    assert [error["code"] for error in response.json()["errors"]] == ["permission_denied"]
    assert not ImportJob.objects.exists()
    assert not team.project.examples.exists()


def test_given_separation_of_duties_when_a_reviewer_imports_as_approved_then_403_naming_it(
    team: Team, api: Api
) -> None:
    response = api.upload(
        team.reviewer,
        team.project,
        jsonl({"input": "Where is my card?", "output": "card_arrival"}),
        status="approved",
    )

    assert response.status_code == 403
    assert "Separation of duties" in response.json()["detail"]
    assert not ImportJob.objects.exists()


@pytest.mark.parametrize(("role", "separation"), [("reviewer", False), ("lead", True)])
def test_given_a_reviewer_or_lead_when_importing_as_approved_then_the_examples_are_approved(
    team: Team, api: Api, role: str, separation: bool
) -> None:
    # A reviewer only where the project does not keep reviewers from approving their own rows
    team.project.reviewers_may_not_review_own = separation
    team.project.save()
    job = api.imported(
        team.user(role),
        team.project,
        jsonl({"input": "Where is my card?", "output": "card_arrival"}, {"input": "Rate?"}),
        status="approved",
    )

    assert counts(job) == ("succeeded", 2, 1, 0, 1)
    assert job["initial_status"] == "approved"
    assert job["errors"] == [{"line": 2, "error": "output must not be empty."}]
    assert list(team.project.examples.values_list("status", flat=True)) == [ExampleStatus.APPROVED]


def test_given_an_annotator_when_importing_as_submitted_then_the_examples_are_submitted(
    team: Team, api: Api
) -> None:
    job = api.imported(
        team.annotator,
        team.project,
        jsonl({"input": "Where is my card?", "output": "card_arrival"}),
        status="submitted",
    )

    assert counts(job) == ("succeeded", 1, 1, 0, 0)
    assert list(team.project.examples.values_list("status", flat=True)) == [ExampleStatus.SUBMITTED]


@pytest.mark.parametrize(
    ("data", "field"),
    [
        pytest.param({"format": "xml"}, "format", id="unknown-format"),
        pytest.param({"status": "published"}, "status", id="unknown-status"),
        pytest.param({"delimiter": ";"}, "delimiter", id="unknown-field"),
        pytest.param({"file": None}, "file", id="no-file"),
        pytest.param({"file": SimpleUploadedFile("empty.csv", b"")}, "file", id="empty-file"),
    ],
)
def test_given_bad_upload_parameters_when_importing_then_400_names_the_field_and_no_job(
    team: Team, client_for: ClientFor, data: dict[str, Any], field: str
) -> None:
    body = {"file": SimpleUploadedFile("rows.jsonl", b'{"input": "a", "output": "card_arrival"}\n'), **data}
    body = {key: value for key, value in body.items() if value is not None}

    response = client_for(team.annotator).post(
        f"/api/projects/{team.project.pk}/imports/", body, format="multipart"
    )

    assert response.status_code == 400, response.content
    assert field in [error["field"] for error in response.json()["errors"]]
    assert not ImportJob.objects.exists()


def test_given_an_upload_over_the_size_limit_when_importing_then_413_and_no_job(
    team: Team, api: Api, settings: Settings
) -> None:
    settings.FINCH_MAX_UPLOAD_BYTES = 2048
    row = b'{"input": "Where is my card?", "output": "card_arrival"}\n'

    too_big = api.upload(team.annotator, team.project, row * 100)
    small = api.upload(team.annotator, team.project, row)

    assert too_big.status_code == 413, too_big.content
    assert [error["code"] for error in too_big.json()["errors"]] == ["too_large"]
    assert "FINCH_MAX_UPLOAD_BYTES" in too_big.json()["detail"]
    assert small.status_code == 202, small.content
    assert ImportJob.objects.count() == 1
    assert team.project.examples.count() == 1


# --- Unreadable files ---------------------------------------------------------------------------


MANY_GOOD_ROWS = 20_005  # more than one staging batch lands before the damage is found
LATIN1_FRENCH = (
    "text,label\n"
    "Où est ma carte bancaire ?,card_arrival\n"
    "Je n'ai toujours pas reçu ma carte,card_arrival\n"
    "Quel est le taux de change aujourd'hui ?,exchange_rate\n"
    "J'ai perdu ma carte hier soir,lost_or_stolen_card\n"
    "Comment lier ma carte à l'application ?,card_linking\n"
    "Ma carte a été volée au café,lost_or_stolen_card\n"
    "Les frais de conversion sont élevés,exchange_rate\n"
    "Délai de livraison de la carte ?,card_arrival\n"
    "Carte reçue mais pas activée,card_linking\n"
    "Quand arrivera ma nouvelle carte ?,card_arrival\n"
).encode("latin-1")


def many_csv_rows() -> bytes:
    return b"input,output\n" + b"".join(b"question %d,card_arrival\n" % n for n in range(MANY_GOOD_ROWS))


def many_json_records() -> bytes:
    return b"[\n" + b"".join(
        b'{"input": "question %d", "output": "card_arrival"},\n' % n for n in range(MANY_GOOD_ROWS)
    )


UNREADABLE = [
    pytest.param(
        "rows.csv",
        "input,output\nWhere is my card?,card_arrival\n".encode("utf-16"),
        {},
        "UTF-16",
        id="utf16",
    ),
    pytest.param("rows.csv", LATIN1_FRENCH, {}, "UTF-8", id="latin1"),
    pytest.param(
        "rows.bin", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 8, {}, "binary", id="binary"
    ),
    pytest.param("rows.txt", b"   \n\n", {}, "empty", id="only-whitespace"),
    pytest.param(
        "rows.jsonl",
        b"this is not json\nnor is this\n",
        {"format": "jsonl"},
        "JSON Lines",
        id="jsonl-without-objects",
    ),
    pytest.param("rows.csv", b"\n\n,,\n", {"format": "csv"}, "no header row", id="csv-without-header"),
    pytest.param(
        "rows.csv",
        b"input,output,output\n"
        + b"".join(b"question %d,card_arrival,x\n" % n for n in range(MANY_GOOD_ROWS)),
        {},
        "same name: 'output' (columns 2, 3)",
        id="csv-repeated-column",
    ),
    pytest.param("rows.csv", b"input,output\n", {}, "no rows to import", id="csv-header-alone"),
    pytest.param("rows.json", b"[]", {}, "no rows to import", id="empty-json-list"),
    pytest.param(
        "rows.json",
        b'{"data": [\n' + many_json_records()[2:] + b'{"input": "last", "output": "card_arrival"}\n]}\n',
        {},
        "one JSON object over several lines",
        id="json-object-wrapping-records",
    ),
    pytest.param(
        "rows.json",
        many_json_records() + b'{"input": "question", "outp',
        {},
        "truncated",
        id="json-array-truncated",
    ),
    pytest.param("rows.json", many_json_records()[:-2], {}, "truncated", id="json-array-no-closing-bracket"),
    pytest.param(
        "rows.json",
        many_json_records() + b'{"input": "question" "output": "x"}\n]',
        {},
        f"malformed at line {MANY_GOOD_ROWS + 2}",
        id="json-array-malformed-mid-file",
    ),
    pytest.param(
        "rows.jsonl",
        b'{"input": "a", "output": "card_arrival"}\n',
        {"format": "json"},
        "JSON array",
        id="jsonl-as-json",
    ),
    pytest.param(
        "rows.csv",
        many_csv_rows()
        + b'"this quote never closes,card_arrival\nmore,card_arrival\nand more,card_arrival\n',
        {},
        "malformed",
        id="csv-unterminated-quote-mid-file",
    ),
]


@pytest.mark.parametrize(("name", "content", "fields", "message"), UNREADABLE)
def test_given_an_unreadable_file_when_imported_then_the_job_fails_clearly_and_creates_nothing(
    team: Team, api: Api, name: str, content: bytes, fields: dict[str, str], message: str
) -> None:
    job = api.imported(team.annotator, team.project, content, name, **fields)

    assert job["status"] == "failed"
    assert message in job["error"]
    assert "Traceback" not in job["error"]
    assert job["created"] == 0
    assert not team.project.examples.exists()


def test_an_unreadable_file_is_logged_as_a_refusal_without_a_traceback(
    team: Team, caplog: pytest.LogCaptureFixture
) -> None:
    # A bad file is the user's problem, named on the job: the worker's log says it in one line
    with caplog.at_level(logging.INFO, logger="curation.services.jobs"):
        job = run_import(team.project, team.lead, gzip.compress(b"input,output\na,b\n"), "rows.csv.gz")
    assert job.status == "failed" and "gzip archive" in job.error
    refusals = [record for record in caplog.records if record.levelno >= logging.WARNING]
    assert len(refusals) == 1 and "refused: The file is a gzip archive" in refusals[0].getMessage()
    assert refusals[0].exc_info is None


def test_given_a_csv_field_over_the_reader_limit_mid_file_when_imported_then_the_job_fails_and_creates_nothing(
    team: Team, api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(readers, "MAX_CSV_FIELD", 1000)
    content = many_csv_rows() + b"x" * 2000 + b",card_arrival\nlast,card_arrival\n"

    job = api.imported(team.annotator, team.project, content, "rows.csv")

    assert job["status"] == "failed"
    assert f"The CSV file is malformed near line {MANY_GOOD_ROWS + 2}" in job["error"]
    assert job["created"] == 0
    assert not team.project.examples.exists()


def test_given_a_truncated_file_when_imported_again_after_fixing_it_then_every_row_lands(
    team: Team, api: Api
) -> None:
    """The failed attempt left nothing behind (no half import, no staging rows)."""
    broken = api.imported(team.annotator, team.project, many_json_records()[:-2], "rows.json")
    fixed = api.imported(team.annotator, team.project, many_json_records()[:-2] + b"\n]", "rows.json")

    assert broken["status"] == "failed"
    assert counts(fixed) == ("succeeded", MANY_GOOD_ROWS, MANY_GOOD_ROWS, 0, 0)
    assert team.project.examples.count() == MANY_GOOD_ROWS


# --- Reading jobs ---------------------------------------------------------------------------------


def test_given_imports_when_listing_them_then_each_job_shows_its_counts_newest_first(
    team: Team, api: Api
) -> None:
    first = api.imported(
        team.annotator, team.project, jsonl({"input": "Where is my card?", "output": "card_arrival"})
    )
    second = api.imported(
        team.reviewer, team.project, b"input,output\nRate?,exchange_rate\nx,nope\n", "rows.csv"
    )

    response = api.client_for(team.annotator).get(f"/api/projects/{team.project.pk}/imports/")

    assert response.status_code == 200
    listed = response.json()["results"]
    assert [job["id"] for job in listed] == [second["id"], first["id"]]
    assert [counts(job) for job in listed] == [("succeeded", 2, 1, 0, 1), ("succeeded", 1, 1, 0, 0)]
    assert [job["created_by"] for job in listed] == [team.reviewer.username, team.annotator.username]


def test_given_row_errors_when_downloading_errors_csv_then_it_lists_line_and_error(
    team: Team, api: Api
) -> None:
    job = api.imported(
        team.annotator,
        team.project,
        b'input,output\nWhere is my card?,card_arrival\nBad,"not, a ""label"""\nShort\n',
        "rows.csv",
    )

    response = api.client_for(team.annotator).get(f"/api/imports/{job['id']}/errors.csv")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"] == f'attachment; filename="import-{job["id"]}-errors.csv"'
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows == [
        ["line", "error"],
        ["3", "output 'not, a \"label\"' is not one of the project's labels."],
        ["4", "Expected 2 columns, found 1."],
    ]


def test_given_no_row_errors_when_downloading_errors_csv_then_it_holds_the_header_only(
    team: Team, api: Api
) -> None:
    job = api.imported(
        team.annotator, team.project, jsonl({"input": "Where is my card?", "output": "card_arrival"})
    )

    response = api.client_for(team.annotator).get(f"/api/imports/{job['id']}/errors.csv")

    assert response.status_code == 200
    assert list(csv.reader(io.StringIO(response.content.decode()))) == [["line", "error"]]


# --- The service without the API --------------------------------------------------------------------


def run_import(
    project: Project, user: User, content: bytes, name: str = "rows.jsonl", **options: Any
) -> ImportJob:
    job = import_job_create(
        project=project, user=user, upload=io.BytesIO(content), filename=name, queue=False, **options
    )
    job_run(ImportJob, job.pk, import_run)
    job.refresh_from_db()
    return job


def test_a_json_array_on_one_line_names_each_bad_rows_record(team: Team) -> None:
    # Given a JSON array as json.dump writes it: every record on line 1, the 2nd and 4th bad
    rows = [
        {"input": "Where is my card?", "output": "card_arrival"},
        {"input": "Rate?", "output": "not_a_label"},
        {"input": "Lost it", "output": "lost_or_stolen_card"},
        {"input": "", "output": "card_arrival"},
    ]
    # When it is imported
    job = run_import(team.project, team.lead, json.dumps(rows).encode(), "rows.json", file_format="json")
    # Then each error says which record, as the line alone cannot
    assert (job.created, job.failed) == (2, 2)
    assert [(error["line"], error["error"].split(":")[0]) for error in job.errors] == [
        (1, "Record 2"),
        (1, "Record 4"),
    ]
    assert "not one of the project's labels" in job.errors[0]["error"]


def test_given_a_job_when_import_run_runs_it_then_the_job_records_the_outcome(team: Team) -> None:
    content = b"body;topic\nWhere is my card?;card_arrival\nRate?;exchange_rate\nOops;nope\n"

    job = run_import(
        team.project,
        team.lead,
        content,
        "../../etc/rows.csv",
        file_format="csv",
        input_field=" body ",
        output_field="topic",
    )

    assert (job.status, job.total, job.created, job.skipped_existing, job.failed) == ("succeeded", 3, 2, 0, 1)
    assert (job.filename, job.detected_format, job.input_field, job.progress) == (
        "rows.csv",
        "csv",
        "body",
        1.0,
    )
    assert job.started_at is not None and job.finished_at is not None
    assert job.errors == [{"line": 4, "error": "output 'nope' is not one of the project's labels."}]
    assert contents(team.project) == [("Where is my card?", "card_arrival"), ("Rate?", "exchange_rate")]


def test_given_a_job_when_import_run_runs_it_twice_then_the_second_run_does_nothing(team: Team) -> None:
    job = run_import(team.project, team.lead, jsonl({"input": "Where is my card?", "output": "card_arrival"}))
    finished_at = job.finished_at

    job_run(ImportJob, job.pk, import_run)  # a redelivered task

    job.refresh_from_db()
    assert (job.created, job.finished_at, team.project.examples.count()) == (1, finished_at, 1)


def test_given_a_project_gone_before_a_batch_merges_when_importing_then_the_job_fails_and_writes_nothing(
    team: Team, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Examples carry no database constraint on their project (a trigger per row); the merge
    confirms the project once a batch instead."""
    from curation.services import imports

    missing = Project.objects.order_by("-pk").values_list("pk", flat=True)[0] + 1
    merge_values = imports._merge_values
    monkeypatch.setattr(imports, "_merge_values", lambda job: {**merge_values(job), "project_id": missing})

    job = run_import(team.project, team.lead, jsonl({"input": "Where is my card?", "output": "card_arrival"}))

    assert job.status == "failed"
    assert job.error == "The project was deleted during the import; no more rows were written."
    assert not Example.objects.filter(project_id=missing).exists()


def test_given_a_project_deleted_in_a_shell_then_its_examples_go_with_it(team: Team) -> None:
    ExampleFactory.create_batch(2, project=team.project)

    Project.objects.filter(pk=team.project.pk).delete()

    assert not Example.objects.exists()


def test_given_an_unknown_format_when_creating_a_job_then_it_is_refused(team: Team) -> None:
    from curation.errors import InvalidInput

    with pytest.raises(InvalidInput, match="Unknown format"):
        import_job_create(
            project=team.project, user=team.lead, upload=io.BytesIO(b"x"), filename="x", file_format="xlsx"
        )
    assert not ImportJob.objects.exists()


# On PostgreSQL each batch is staged in a table named finch_import_<job id>_<batch>. These tests
# commit their tables, as a killed worker or a running job has them (inside a test transaction the
# import's second, loading connection would wait on the names' locks).
postgres_tables = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="SQLite stages in temporary tables, private to each connection"
)


def table_exists(name: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s)", [name])
        return cursor.fetchone()[0] is not None


@pytest.fixture
def create_table() -> Iterator[Callable[[str], None]]:
    created: list[str] = []

    def create(name: str) -> None:
        with connection.cursor() as cursor:
            cursor.execute(f"CREATE TABLE {name} (line integer)")
        created.append(name)

    yield create
    with connection.cursor() as cursor:
        for name in created:
            cursor.execute(f"DROP TABLE IF EXISTS {name}")


@postgres_tables
@pytest.mark.django_db(transaction=True)
def test_given_staging_tables_a_killed_run_left_when_the_job_runs_again_then_they_are_dropped(
    team: Team, create_table: Callable[[str], None]
) -> None:
    job = import_job_create(
        project=team.project,
        user=team.lead,
        upload=io.BytesIO(b"input,output\nRate?,exchange_rate\n"),
        filename="rows.csv",
        queue=False,
    )
    create_table(f"finch_import_{job.pk}_1")

    job_run(ImportJob, job.pk, import_run)

    job.refresh_from_db()
    assert (job.status, job.created) == ("succeeded", 1)
    assert not table_exists(f"finch_import_{job.pk}_1")


@postgres_tables
@pytest.mark.django_db(transaction=True)
def test_given_another_jobs_staging_table_when_an_import_starts_then_it_is_left_alone(
    team: Team, create_table: Callable[[str], None]
) -> None:
    """Job N must not drop the tables of job N0, N1, ... N9, N00 ... which may be running right now."""
    job = import_job_create(
        project=team.project,
        user=team.lead,
        upload=io.BytesIO(b"input,output\nRate?,exchange_rate\n"),
        filename="rows.csv",
        queue=False,
    )
    others = [f"finch_import_{job.pk}0_1", f"finch_import_{job.pk}7_12"]
    for table in others:
        create_table(table)

    job_run(ImportJob, job.pk, import_run)

    job.refresh_from_db()
    assert job.status == "succeeded"
    assert [table for table in others if not table_exists(table)] == []


# --- Management command -------------------------------------------------------------------------


def command(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("import_examples", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_given_a_file_when_the_command_imports_it_then_it_reports_counts_and_errors(
    team: Team, tmp_path: Path
) -> None:
    project = new_project(team, "classification", labels=LABELS)
    path = tmp_path / "rows.csv"
    path.write_bytes(b"text,label\nWhere is my card?,card_arrival\nRate?,exchange_rate\nOops,nope\n")

    out, err = command(str(project.pk), str(path), "--format", "csv")
    again, _ = command(str(project.pk), str(path))

    job = ImportJob.objects.filter(project=project).earliest("id")
    assert f"Import {job.pk} (csv): 3 rows, 2 created, 0 already there, 1 failed." in out
    assert "line 4: output 'nope' is not one of the project's labels." in out
    assert "100.0%" in err
    assert "3 rows, 0 created, 2 already there, 1 failed." in again
    examples = list(project.examples.order_by("id"))
    assert [(e.input, e.output, e.created_by_id, e.source) for e in examples] == [
        ("Where is my card?", "card_arrival", team.lead.pk, f"import:{job.pk}"),
        ("Rate?", "exchange_rate", team.lead.pk, f"import:{job.pk}"),
    ]


def test_given_field_and_status_options_when_the_command_imports_then_they_apply(
    team: Team, tmp_path: Path
) -> None:
    path = tmp_path / "rows.jsonl"
    path.write_bytes(jsonl({"body": "Where is my card?", "topic": "card_arrival", "text": "alias"}))

    command(
        str(team.project.pk),
        str(path),
        "--input-field",
        "body",
        "--output-field",
        "topic",
        "--status",
        "approved",
        "--user",
        team.lead.username,
    )

    example = team.project.examples.get()
    assert (example.input, example.output, example.metadata) == (
        "Where is my card?",
        "card_arrival",
        {"text": "alias"},
    )
    assert (example.status, example.created_by_id) == (ExampleStatus.APPROVED, team.lead.pk)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(["2000000000", "{path}"], "There is no project 2000000000", id="no-such-project"),
        pytest.param(["{project}", "{missing}", "--user", "{lead}"], "is not a file", id="missing-file"),
        pytest.param(["{project}", "{path}"], "Name the importing user with --user", id="no-creator-no-user"),
        pytest.param(["{project}", "{path}", "--user", "nobody-here"], "--user", id="unknown-user"),
        pytest.param(
            ["{project}", "{path}", "--status", "approved", "--user", "{annotator}"],
            "Only reviewers and leads",
            id="annotator-approves",
        ),
        pytest.param(
            ["{project}", "{path}", "--status", "published", "--user", "{lead}"],
            "Unknown status",
            id="unknown-status",
        ),
        pytest.param(["{project}", "{utf16}", "--user", "{lead}"], "UTF-16", id="unreadable-file"),
        pytest.param(["{project}", "{path}", "--format", "xlsx"], "invalid choice", id="unknown-format"),
    ],
)
def test_given_bad_arguments_when_the_command_runs_then_it_fails_with_a_clear_message(
    team: Team, tmp_path: Path, args: list[str], message: str
) -> None:
    path = tmp_path / "rows.jsonl"
    path.write_bytes(jsonl({"input": "Where is my card?", "output": "card_arrival"}))
    utf16 = tmp_path / "utf16.csv"
    utf16.write_bytes("input,output\nWhere is my card?,card_arrival\n".encode("utf-16"))
    values = {
        "path": str(path),
        "utf16": str(utf16),
        "missing": str(tmp_path / "missing.jsonl"),
        "project": str(team.project.pk),
        "annotator": team.annotator.username,
        "lead": team.lead.username,
    }

    with pytest.raises(CommandError, match=message):
        command(*[arg.format(**values) for arg in args])
    assert not team.project.examples.exists()


def test_given_a_project_id_that_is_not_a_number_when_the_command_runs_then_it_fails(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="invalid int value"):
        command("abc", str(tmp_path / "rows.jsonl"))


# --- Export -----------------------------------------------------------------------------------


@pytest.fixture
def exported_team(team: Team) -> list[Example]:
    """Three examples in the team's project: a draft with metadata, an approved one, a multi-line one."""
    return [
        example_create(
            project=team.project,
            user=team.annotator,
            input="Where is my card?",
            output="card_arrival",
            metadata={"channel": "app", "score": 2},
            external_id="t-1",
        ),
        example_create(
            project=team.project,
            user=team.lead,
            input="Rate, please",
            output="exchange_rate",
            status=ExampleStatus.APPROVED,
            source="crm",
        ),
        example_create(
            project=team.project,
            user=team.annotator,
            input='Two lines,\nwith "quotes"',
            output="lost_or_stolen_card",
            status=ExampleStatus.SUBMITTED,
        ),
    ]


def streamed(response: Any) -> str:
    assert response.streaming
    return b"".join(response.streaming_content).decode()


def test_given_examples_when_exporting_jsonl_then_each_line_is_one_example_oldest_first(
    team: Team, api: Api, exported_team: list[Example]
) -> None:
    response = api.export(team.annotator, team.project, format="jsonl")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/x-ndjson")
    assert (
        response["Content-Disposition"] == f'attachment; filename="project-{team.project.pk}-examples.jsonl"'
    )
    records = [json.loads(line) for line in streamed(response).splitlines()]
    first, second, third = exported_team
    assert records == [
        {
            "id": first.pk,
            "input": "Where is my card?",
            "output": "card_arrival",
            "metadata": {"channel": "app", "score": 2},
            "external_id": "t-1",
            "status": "draft",
            "source": "manual",
            "duplicate_of": None,
        },
        {
            "id": second.pk,
            "input": "Rate, please",
            "output": "exchange_rate",
            "metadata": {},
            "external_id": None,
            "status": "approved",
            "source": "crm",
            "duplicate_of": None,
        },
        {
            "id": third.pk,
            "input": 'Two lines,\nwith "quotes"',
            "output": "lost_or_stolen_card",
            "metadata": {},
            "external_id": None,
            "status": "submitted",
            "source": "manual",
            "duplicate_of": None,
        },
    ]


def test_given_no_format_when_exporting_then_it_is_jsonl(
    team: Team, api: Api, exported_team: list[Example]
) -> None:
    response = api.export(team.annotator, team.project)

    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/x-ndjson")
    assert len(streamed(response).splitlines()) == 3


def test_given_examples_when_exporting_csv_then_the_header_and_quoting_are_right(
    team: Team, api: Api, exported_team: list[Example]
) -> None:
    response = api.export(team.annotator, team.project, format="csv")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"] == f'attachment; filename="project-{team.project.pk}-examples.csv"'
    rows = list(csv.reader(io.StringIO(streamed(response))))
    first, second, third = exported_team
    assert rows[0] == EXPORT_CSV_COLUMNS
    # metadata is a JSON object in its column (key order is the database's: jsonb sorts them)
    assert [[*row[:-1], json.loads(row[-1])] for row in rows[1:]] == [
        [
            str(first.pk),
            "Where is my card?",
            "card_arrival",
            "draft",
            "manual",
            "t-1",
            "",
            {"channel": "app", "score": 2},
        ],
        [str(second.pk), "Rate, please", "exchange_rate", "approved", "crm", "", "", {}],
        [
            str(third.pk),
            'Two lines,\nwith "quotes"',
            "lost_or_stolen_card",
            "submitted",
            "manual",
            "",
            "",
            {},
        ],
    ]


def test_given_filters_when_exporting_then_only_matching_examples_are_streamed(
    team: Team, api: Api, exported_team: list[Example]
) -> None:
    first, second, third = exported_team
    flag_create(project=team.project, user=None, kind=FlagKind.QUALITY, example_ids=[third.pk])

    def ids(**params: str) -> list[int]:
        response = api.export(team.annotator, team.project, **params)
        assert response.status_code == 200, response.content
        return [json.loads(line)["id"] for line in streamed(response).splitlines()]

    assert ids(status="approved") == [second.pk]
    assert ids(source="crm") == [second.pk]
    assert ids(source="import:1") == []
    assert ids(flagged="true") == [third.pk]
    assert ids(flagged="false") == [first.pk, second.pk]
    assert ids(status="submitted", flagged="true") == [third.pk]
    assert ids(status="approved", flagged="true") == []
    csv_response = api.export(team.annotator, team.project, status="draft", format="csv")
    assert [row[0] for row in csv.reader(io.StringIO(streamed(csv_response)))] == ["id", str(first.pk)]


def test_given_an_import_when_exporting_by_its_source_then_only_its_rows_come_out(
    team: Team, api: Api
) -> None:
    ExampleFactory.create(project=team.project, input="Made by hand", output="card_linking")
    job = api.imported(team.annotator, team.project, jsonl({"input": "Imported", "output": "card_arrival"}))

    response = api.export(team.annotator, team.project, source=f"import:{job['id']}")

    assert [json.loads(line)["input"] for line in streamed(response).splitlines()] == ["Imported"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        pytest.param({"format": "xml"}, "format", id="unknown-format"),
        pytest.param({"format": "json"}, "format", id="json-is-not-an-export-format"),
        pytest.param({"status": "published"}, "status", id="unknown-status"),
        pytest.param({"flagged": "maybe"}, "flagged", id="bad-boolean"),
    ],
)
def test_given_bad_export_parameters_when_exporting_then_400(
    team: Team, api: Api, params: dict[str, str], field: str
) -> None:
    response = api.export(team.annotator, team.project, **params)

    assert response.status_code == 400, response.content
    assert not response.streaming
    assert [error["field"] for error in response.json()["errors"]] == [field]


@pytest.mark.parametrize("file_format", ["jsonl", "csv"])
def test_given_an_export_when_imported_into_a_fresh_project_then_the_same_examples_are_recreated(
    team: Team, api: Api, exported_team: list[Example], file_format: str
) -> None:
    export = streamed(api.export(team.annotator, team.project, format=file_format)).encode()
    fresh = new_project(team, "classification", labels=LABELS)

    job = api.imported(team.annotator, fresh, export, f"export.{file_format}")
    again = api.imported(team.annotator, fresh, export, f"export.{file_format}")

    assert counts(job) == ("succeeded", 3, 3, 0, 0), job["errors"]
    assert counts(again) == ("succeeded", 3, 0, 3, 0)
    assert contents(fresh) == contents(team.project)
    assert fresh.examples.get(input="Where is my card?").metadata["channel"] == "app"
    # The export's "id" is the old project's number: examples without an external_id stay without.
    assert external_ids(fresh) == external_ids(team.project) == ["t-1", None, None]


@pytest.mark.parametrize("file_format", ["jsonl", "csv"])
def test_given_chat_examples_when_exported_and_imported_then_inputs_stay_message_lists(
    team: Team, api: Api, file_format: str
) -> None:
    source = new_project(team, "chat")
    conversation = {
        "messages": chat(
            ("system", "Be brief."),
            ("user", "Hi"),
            ("assistant", "Hello."),
            ("user", "Where is my card?"),
            ("assistant", "On its way."),
        ),
        "id": "conv-1",
    }
    single = {"messages": chat(("user", "Rate?"), ("assistant", "1.08"))}
    first = api.imported(team.annotator, source, jsonl(conversation, single))
    assert counts(first) == ("succeeded", 2, 2, 0, 0)
    example = source.examples.get(external_id="conv-1")
    shown = api.client_for(team.annotator).get(f"/api/examples/{example.pk}/").json()
    assert shown["input"] == conversation["messages"][:-1]
    assert shown["output"] == "On its way."

    export = streamed(api.export(team.annotator, source, format=file_format))
    if file_format == "jsonl":
        assert [json.loads(line)["input"] for line in export.splitlines()] == [
            conversation["messages"][:-1],
            single["messages"][:-1],
        ]
    fresh = new_project(team, "chat")
    job = api.imported(team.annotator, fresh, export.encode(), f"export.{file_format}")

    assert counts(job) == ("succeeded", 2, 2, 0, 0), job["errors"]
    assert contents(fresh) == [
        (conversation["messages"][:-1], "On its way."),
        (single["messages"][:-1], "1.08"),
    ]
    assert all(isinstance(input, list) for input, _ in contents(fresh))


def test_given_formula_like_text_when_exporting_csv_then_spreadsheets_will_not_run_it(
    team: Team, api: Api
) -> None:
    risky = ['=HYPERLINK("http://evil.example","card")', "+1 card", "-5 euros?", "@SUM(A1)", "\tcard"]
    for text in risky:
        ExampleFactory.create(project=team.project, input=text, output="card_arrival")

    rows = list(csv.reader(io.StringIO(streamed(api.export(team.annotator, team.project, format="csv")))))
    jsonl = streamed(api.export(team.annotator, team.project))

    assert sorted(row[1] for row in rows[1:]) == sorted("'" + text for text in risky)
    assert sorted(json.loads(line)["input"] for line in jsonl.splitlines()) == sorted(
        risky
    )  # JSONL stays exact
