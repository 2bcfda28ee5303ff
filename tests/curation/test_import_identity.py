"""An import's rows and the identity of the examples already there.

A row that did not land is "already there" (skipped_existing) only when it is that very row
again: the same external_id with the same input and output, or, without an external_id, the
same input and output. A row whose external_id holds other content, or whose content is already
another external_id's example, is a row error naming the example (and the earlier line when that
example came from the same file), never silently dropped. The same holds for the labeling queue.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from pytest_django import DjangoCaptureOnCommitCallbacks
from rest_framework.test import APIClient

from curation.models import Example, ImportJob, JobStatus, LabelingItem, Project
from curation.services import import_rows
from curation.services.labeling import items_enqueue
from tests.conftest import Team
from tests.curation.test_imports import jsonl, run_import
from tests.factories import ExampleFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_in_tmp")]


def file_of(name: str, records: list[dict[str, str]]) -> bytes:
    """The records as the file `name` holds them: CSV with a header, or JSONL."""
    if not name.endswith(".csv"):
        return jsonl(*records)
    lines = [",".join(records[0])] + [",".join(r.values()) for r in records]
    return ("\n".join(lines) + "\n").encode()


def counts(job: ImportJob) -> tuple[Any, ...]:
    return (job.status, job.total, job.created, job.skipped_existing, job.failed)


def example(project: Project, external_id: str) -> Example:
    return Example.objects.get(project=project, external_id=external_id)


# --- A: an external_id already used, with other content -------------------------------------------


@pytest.mark.parametrize("name", ["rows.jsonl", "rows.csv"])
def test_a_used_external_id_with_other_content_later_in_the_file_is_a_row_error_naming_the_line(
    team: Team, name: str
) -> None:
    records = [
        {"external_id": "d1", "input": "first", "output": "card_arrival"},
        {"external_id": "d1", "input": "second", "output": "card_linking"},
        {"external_id": "d2", "input": "other", "output": "exchange_rate"},
    ]
    content = file_of(name, records)

    job = run_import(team.project, team.lead, content, name)

    first = example(team.project, "d1")
    assert counts(job) == (JobStatus.SUCCEEDED, 3, 2, 0, 1)
    assert (first.input, first.output) == ("first", "card_arrival")
    assert job.errors == [
        {
            "line": 3 if name.endswith(".csv") else 2,
            "error": f"external_id d1 is already example {first.pk} (line {2 if name.endswith('.csv') else 1}"
            " of this file) with another input or output; not imported.",
        }
    ]


def test_a_file_reusing_an_earlier_files_ids_with_other_questions_lands_nothing_and_says_why(
    team: Team,
) -> None:
    train = jsonl(
        *[{"id": n, "question": f"Train question {n}?", "answer": "card_arrival"} for n in range(5)]
    )
    test = jsonl(*[{"id": n, "question": f"Test question {n}?", "answer": "card_linking"} for n in range(5)])
    run_import(team.project, team.lead, train, "train.jsonl")

    job = run_import(team.project, team.lead, test, "test.jsonl")

    # Nothing landed, so the job did not succeed; every row says which example holds its id
    assert counts(job) == (JobStatus.FAILED, 5, 0, 0, 5)
    ids = {n: example(team.project, str(n)).pk for n in range(5)}
    assert job.errors == [
        {
            "line": n + 1,
            "error": f"external_id {n} is already example {ids[n]} with another input or output; not imported.",
        }
        for n in range(5)
    ]
    assert "external_id 0 is already example" in job.error
    assert sorted(team.project.examples.values_list("input", flat=True)) == [
        f"Train question {n}?" for n in range(5)
    ]


def test_a_reimport_with_one_label_changed_reports_that_row_and_skips_the_identical_ones(team: Team) -> None:
    before = [
        {"external_id": "u1", "text": "Where is my card?", "label": "card_arrival"},
        {"external_id": "u2", "text": "Rate?", "label": "exchange_rate"},
    ]
    run_import(team.project, team.lead, jsonl(*before))
    changed = [dict(before[0], label="lost_or_stolen_card"), before[1]]

    job = run_import(team.project, team.lead, jsonl(*changed))

    u1 = example(team.project, "u1")
    assert counts(job) == (JobStatus.SUCCEEDED, 2, 0, 1, 1)
    assert job.errors == [
        {
            "line": 1,
            "error": f"external_id u1 is already example {u1.pk} with another input or output; not imported.",
        }
    ]
    assert u1.output == "card_arrival"


def test_an_identical_reimport_with_external_ids_is_still_skipped_without_errors(team: Team) -> None:
    content = jsonl(
        {"external_id": "u1", "text": "Where is my card?", "label": "card_arrival", "metadata": {"k": 1}},
        {"text": "Rate?", "label": "exchange_rate"},
    )
    run_import(team.project, team.lead, content)

    job = run_import(team.project, team.lead, content)

    assert counts(job) == (JobStatus.SUCCEEDED, 2, 0, 2, 0)
    assert job.errors == []


def test_a_row_with_no_external_id_whose_content_is_there_is_skipped_whatever_the_examples_id(
    team: Team,
) -> None:
    ExampleFactory.create(project=team.project, input="Rate?", output="exchange_rate", external_id="x-1")

    job = run_import(
        team.project, team.lead, jsonl({"text": "Rate?", "label": "exchange_rate"}, {"text": "New"})
    )

    assert counts(job) == (JobStatus.SUCCEEDED, 2, 1, 1, 0)


# --- B: another external_id, the same content -----------------------------------------------------


def test_rows_with_new_external_ids_but_the_same_content_are_row_errors_naming_the_first(team: Team) -> None:
    content = jsonl(
        {"text": "same", "label": "card_arrival", "external_id": "s1", "metadata": {"annotator": "A"}},
        {"text": "same", "label": "card_arrival", "external_id": "s2", "metadata": {"annotator": "B"}},
        {"text": "  same ", "label": "card_arrival", "metadata": {"annotator": "C"}},
    )

    job = run_import(team.project, team.lead, content)

    s1 = example(team.project, "s1")
    assert counts(job) == (JobStatus.SUCCEEDED, 3, 1, 1, 1)  # the row without an id is that example again
    assert job.errors == [
        {
            "line": 2,
            "error": f"Same input and output as example {s1.pk} (line 1 of this file, external_id s1): a"
            " project keeps one example per content, so external_id s2 was not imported.",
        }
    ]
    assert s1.metadata == {"annotator": "A"}


def test_a_new_external_id_on_content_already_in_the_project_is_a_row_error(team: Team) -> None:
    by_hand = ExampleFactory.create(project=team.project, input="Rate?", output="exchange_rate")
    imported = ExampleFactory.create(
        project=team.project, input="Lost it", output="lost_or_stolen_card", external_id="old-2"
    )

    job = run_import(
        team.project,
        team.lead,
        jsonl(
            {"external_id": "new-1", "text": "Rate?", "label": "exchange_rate"},
            {"external_id": "new-2", "text": "Lost it", "label": "lost_or_stolen_card"},
        ),
    )

    assert counts(job) == (JobStatus.FAILED, 2, 0, 0, 2)
    assert [error["error"] for error in job.errors] == [
        f"Same input and output as example {by_hand.pk} (no external_id): a project keeps one example"
        " per content, so external_id new-1 was not imported.",
        f"Same input and output as example {imported.pk} (external_id old-2): a project keeps one"
        " example per content, so external_id new-2 was not imported.",
    ]


# --- Where errors are named ------------------------------------------------------------------------


def test_a_json_array_on_one_line_names_the_clashing_and_the_earlier_record(team: Team) -> None:
    rows = [
        {"external_id": "d1", "input": "first", "output": "card_arrival"},
        {"input": "bad", "output": "not_a_label"},
        {"external_id": "d1", "input": "second", "output": "card_linking"},
    ]

    job = run_import(team.project, team.lead, json.dumps(rows).encode(), "rows.json", file_format="json")

    first = example(team.project, "d1")
    assert counts(job) == (JobStatus.SUCCEEDED, 3, 1, 0, 2)
    assert [(error["line"], error["error"].split(":")[0]) for error in job.errors] == [
        (1, "Record 2"),
        (1, "Record 3"),
    ]
    assert job.errors[1]["error"] == (
        f"Record 3: external_id d1 is already example {first.pk} (record 1 of this file) with another"
        " input or output; not imported."
    )


def test_row_errors_stay_in_file_order_when_the_merge_reports_after_the_reader(team: Team) -> None:
    content = jsonl(
        {"external_id": "d1", "input": "first", "output": "card_arrival"},
        {"external_id": "d1", "input": "second", "output": "card_arrival"},
        {"input": "bad", "output": "not_a_label"},
    )

    job = run_import(team.project, team.lead, content)

    assert [error["line"] for error in job.errors] == [2, 3]


@pytest.mark.parametrize("name", ["rows.jsonl", "rows.csv"])
def test_a_clash_with_a_row_of_an_earlier_batch_of_the_same_file_is_reported_too(
    team: Team, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    monkeypatch.setattr(import_rows, "BATCH_ROWS", 2)
    records = [
        {"external_id": "d1", "input": "first", "output": "card_arrival"},
        {"external_id": "d2", "input": "other", "output": "card_arrival"},
        {"external_id": "d1", "input": "second", "output": "card_arrival"},
        {"external_id": "d3", "input": "first", "output": "card_arrival"},
        {"external_id": "d2", "input": "other", "output": "card_arrival"},
    ]
    content = file_of(name, records)

    job = run_import(team.project, team.lead, content, name)

    d1 = example(team.project, "d1").pk
    assert counts(job) == (JobStatus.SUCCEEDED, 5, 2, 1, 2)
    assert [error["error"] for error in job.errors] == [
        f"external_id d1 is already example {d1} (an earlier row of this file) with another input or"
        " output; not imported.",
        f"Same input and output as example {d1} (an earlier row of this file, external_id d1): a project"
        " keeps one example per content, so external_id d3 was not imported.",
    ]


def test_the_api_shows_the_clash_as_a_failed_row(
    team: Team,
    client_for: Callable[[User | None], APIClient],
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    content = jsonl(
        {"external_id": "d1", "input": "first", "output": "card_arrival"},
        {"external_id": "d1", "input": "second", "output": "card_linking"},
    )
    client: APIClient = client_for(team.lead)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            f"/api/projects/{team.project.pk}/imports/",
            {"file": SimpleUploadedFile("rows.jsonl", content)},
            format="multipart",
        )
    job = client.get(f"/api/imports/{response.json()['id']}/").json()

    assert (job["status"], job["total"], job["created"], job["skipped_existing"], job["failed"]) == (
        "succeeded",
        2,
        1,
        0,
        1,
    )
    assert job["errors"][0]["line"] == 2 and "external_id d1 is already example" in job["errors"][0]["error"]


# --- The labeling queue (status unlabeled) --------------------------------------------------------


def test_a_queue_import_reports_external_ids_and_inputs_that_clash_with_queued_items(team: Team) -> None:
    items_enqueue(
        project=team.project,
        user=team.lead,
        inputs=[{"input": "Where is my card?", "external_id": "q-1"}, {"input": "Rate?"}],
    )
    q1 = LabelingItem.objects.get(project=team.project, external_id="q-1")
    rate = LabelingItem.objects.get(project=team.project, input="Rate?")

    job = run_import(
        team.project,
        team.lead,
        jsonl(
            {"external_id": "q-1", "text": "Where is my card?"},  # that item again
            {"external_id": "q-1", "text": "Where is my card now?"},
            {"external_id": "q-3", "text": "Rate?"},
            {"external_id": "q-4", "text": "Lost it"},
            {"external_id": "q-5", "text": "Lost it"},
            {"text": "Rate?"},  # that input again
        ),
        status="unlabeled",
    )

    assert counts(job) == (JobStatus.SUCCEEDED, 6, 1, 2, 3)
    q4 = LabelingItem.objects.get(project=team.project, external_id="q-4")
    assert [(error["line"], error["error"]) for error in job.errors] == [
        (2, f"external_id q-1 is already labeling item {q1.pk} with another input; not queued."),
        (
            3,
            f"Same input as labeling item {rate.pk} (no external_id): the queue keeps one item per input,"
            " so external_id q-3 was not queued.",
        ),
        (
            5,
            f"Same input as labeling item {q4.pk} (line 4 of this file, external_id q-4): the queue keeps"
            " one item per input, so external_id q-5 was not queued.",
        ),
    ]
    assert LabelingItem.objects.get(pk=q1.pk).input == "Where is my card?"
