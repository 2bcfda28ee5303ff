"""Rows holding JSON no database can store (NaN, Infinity, 1e999, an integer of thousands of
digits, nesting tens of thousands deep) fail alone, with their line and a plain message, in every
import format; every other row lands (issue 20, fault 2)."""

from __future__ import annotations

import json

import pytest
from django.db import DataError
from pytest_django import DjangoCaptureOnCommitCallbacks

from curation.models import ImportJob, JobStatus, Project
from curation.services.jobs import job_run
from tests.conftest import Team
from tests.curation.test_imports import Api, ClientFor, counts, new_project

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_in_tmp")]

# JSON text as an attacker writes it: Python's json reads the first four (as floats) and fails
# on the last two with exceptions that are not JSONDecodeError.
HOSTILE = {
    "nan": "NaN",
    "infinity": "Infinity",
    "minus-infinity": "-Infinity",
    "overflow": "1e999",
    "huge-integer": "1" * 4301,
    "deep": "[" * 50_000 + "]" * 50_000,
}
RAW_MESSAGES = ("invalid input syntax", "Token", "Traceback", "set_int_max_str_digits", "recursion")


@pytest.fixture
def api(client_for: ClientFor, django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks) -> Api:
    return Api(client_for, django_capture_on_commit_callbacks)


def good_record(n: int) -> str:
    return json.dumps({"input": f"question {n}", "output": f"answer {n}", "metadata": {"n": n}})


def hostile_records() -> list[str]:
    return [
        f'{{"input": "bad {name}", "output": "x", "metadata": {{"score": {value}}}}}'
        for name, value in HOSTILE.items()
    ]


def assert_plain(errors: list[dict[str, object]]) -> None:
    for error in errors:
        assert not any(raw in str(error["error"]) for raw in RAW_MESSAGES), error


def test_given_hostile_rows_after_the_first_batch_when_importing_jsonl_then_only_they_fail(
    team: Team, api: Api
) -> None:
    # Given 25,101 rows, the hostile ones from line 25,001 on (past the first 20,000-row batch)
    project = new_project(team, "generation")
    lines = [good_record(n) for n in range(25_101)]
    lines[25_000 : 25_000 + len(HOSTILE)] = hostile_records()
    content = ("\n".join(lines) + "\n").encode()

    # When it is imported
    job = api.imported(team.annotator, project, content, "rows.jsonl")

    # Then each hostile row is a row error at its line, and every other row landed
    good = 25_101 - len(HOSTILE)
    assert counts(job) == ("succeeded", 25_101, good, 0, len(HOSTILE))
    assert [error["line"] for error in job["errors"]] == list(range(25_001, 25_001 + len(HOSTILE)))
    assert "NaN or Infinity" in job["errors"][0]["error"]
    assert "more than 4300 digits" in job["errors"][4]["error"]
    assert "nests deeper than" in job["errors"][5]["error"]
    assert_plain(job["errors"])
    assert project.examples.count() == good
    assert project.examples.filter(input="question 25100").exists()


def records_as(file_format: str) -> tuple[str, bytes]:
    """Two good records around one record per hostile value, in the format; the file's name."""
    if file_format == "csv":
        rows = ["input,output,metadata", "first,one,{}"]
        rows += [f'bad {name},x,"{{""score"": {value}}}"' for name, value in HOSTILE.items()]
        return "rows.csv", ("\n".join([*rows, "last,two,{}"]) + "\n").encode()
    if file_format == "openai_chat":
        chat = '{"messages": [{"role": "user", "content": "%s"}, {"role": "assistant", "content": "ok"}]'
        good = [chat % "first" + "}", chat % "last" + "}"]
        bad = [chat % name + f', "score": {value}}}' for name, value in HOSTILE.items()]
        return "chat.jsonl", "\n".join([good[0], *bad, good[1]]).encode()
    if file_format == "alpaca":
        record = '{"instruction": "%s", "output": "ok"'
        good = [record % "first" + "}", record % "last" + "}"]
        bad = [record % name + f', "score": {value}}}' for name, value in HOSTILE.items()]
        return "alpaca.json", ("[" + ",\n".join([good[0], *bad, good[1]]) + "]").encode()
    records = [good_record(0), *hostile_records(), good_record(1)]
    return "rows.json", ("[" + ",\n".join(records) + "]").encode()


@pytest.mark.parametrize("file_format", ["csv", "json", "openai_chat", "alpaca"])
def test_given_hostile_rows_in_each_format_when_importing_then_only_they_fail(
    team: Team, api: Api, file_format: str
) -> None:
    project: Project = new_project(team, "generation")
    name, content = records_as(file_format)

    job = api.imported(team.annotator, project, content, name)

    assert counts(job) == ("succeeded", len(HOSTILE) + 2, 2, 0, len(HOSTILE))
    assert job["detected_format"] == file_format
    first = 3 if file_format == "csv" else 2  # after the header row
    assert [error["line"] for error in job["errors"]] == list(range(first, first + len(HOSTILE)))
    assert_plain(job["errors"])
    assert project.examples.count() == 2


def test_given_a_database_error_in_a_job_when_it_fails_then_users_see_a_plain_message(team: Team) -> None:
    # Given a job whose work meets an error the database raised, quoting the data
    job = ImportJob.objects.create(project=team.project, filename="rows.jsonl", file="imports/rows.jsonl")
    raw = 'invalid input syntax for type json\nDETAIL:  Token "NaN" is invalid.'

    def work(job: ImportJob, progress: object) -> None:
        raise DataError(raw)

    # When it runs
    job_run(ImportJob, job.pk, work)

    # Then the job failed with a plain message; the raw one is kept for operators only
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED
    assert "Token" not in job.error and "worker's log" in job.error
    assert raw in job.traceback
