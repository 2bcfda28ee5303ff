"""Parquet imports (curation/pipeline/parquet.py): what Hugging Face datasets and pandas write,
uploaded as is, through the API as a lead's script does; and a frozen version's `hf_parquet`
export, which from export revision 3 carries the external ids, imported back whole."""

from __future__ import annotations

import datetime
import decimal
import io
import re
import zipfile
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from django.test import override_settings
from pytest_django import DjangoCaptureOnCommitCallbacks

from curation.models import ExampleStatus, JobStatus, TaskType
from tests.conftest import Team
from tests.curation.test_imports import Api, ClientFor, contents, counts, external_ids, new_project
from tests.curation.test_version_fidelity import downloaded, example, freeze, generation_project

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_in_tmp")]


@pytest.fixture
def api(client_for: ClientFor, django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks) -> Api:
    return Api(client_for, django_capture_on_commit_callbacks)


def parquet(table: pa.Table, **options: Any) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(table, buffer, **options)
    return buffer.getvalue()


def test_a_pandas_style_file_lands_by_its_column_names_in_batches(team: Team, api: Api) -> None:
    # Given 10,000 rows of text and label columns, written in row groups of 3,000
    project = new_project(team, TaskType.GENERATION)
    rows = 10_000
    table = pa.table(
        {
            "text": [f"question {n}" for n in range(rows)],
            "label": [f"answer {n % 7}" for n in range(rows)],
            "channel": ["app" if n % 2 else "web" for n in range(rows)],
        }
    )

    # When a lead imports it with the format left to detection
    job = api.imported(team.lead, project, parquet(table, row_group_size=3000), "train.parquet")

    # Then every row lands as the text formats would land it, its other columns in metadata
    assert counts(job) == (JobStatus.SUCCEEDED, rows, rows, 0, 0)
    assert job["detected_format"] == "parquet"
    first = project.examples.order_by("id").first()
    assert first is not None
    assert (first.input, first.output, first.metadata) == ("question 0", "answer 0", {"channel": "web"})
    assert project.examples.filter(status=ExampleStatus.DRAFT).count() == rows


def test_values_become_json_and_the_unstorable_fail_their_row_naming_the_column(team: Team, api: Api) -> None:
    # Given typed columns as pandas and Spark write them, and rows with NaN and binary values
    project = new_project(team, TaskType.GENERATION)
    when = datetime.datetime(2026, 12, 6, 9, 30, tzinfo=datetime.UTC)
    table = pa.table(
        {
            "prompt": ["price?", "score?", "nan", "blob"],
            "completion": pa.array(
                [
                    decimal.Decimal("3.10"),
                    decimal.Decimal("12"),
                    decimal.Decimal("1.5"),
                    decimal.Decimal("2"),
                ],
                type=pa.decimal128(6, 2),
            ),
            "seen": [when, when, when, when],
            "tags": [["a", "b"], [], None, ["c"]],
            "score": [0.5, 1.0, float("nan"), 2.0],
            "raw": pa.array([None, None, None, b"\x00\x01"], type=pa.binary()),
        }
    )

    job = api.imported(team.lead, project, parquet(table), "typed.parquet")

    # Then decimals keep their text as an output, times become ISO text, lists stay lists
    assert counts(job) == (JobStatus.SUCCEEDED, 4, 2, 0, 2)
    assert contents(project) == [("price?", "3.10"), ("score?", "12.00")]
    first = project.examples.order_by("id").first()
    assert first is not None
    assert first.metadata == {
        "seen": "2026-12-06T09:30:00+00:00",
        "tags": ["a", "b"],
        "score": 0.5,
        "raw": None,
    }
    # And each failed row names its column, by its row number
    assert [(error["line"], error["error"]) for error in job["errors"]] == [
        (
            3,
            "Column 'score' holds NaN or Infinity (or a number too large for a float), which JSON cannot store.",
        ),
        (4, "Column 'raw' holds binary data, which an example cannot hold: store it as text."),
    ]


def test_a_conversation_column_is_read_as_openai_chat(team: Team, api: Api) -> None:
    # Given a chat dataset as the Hugging Face hub holds them: a messages column of structs
    project = new_project(team, TaskType.CHAT)
    conversation = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello."},
    ]
    table = pa.table({"messages": [conversation], "source": ["hub"]})

    job = api.imported(team.lead, project, parquet(table), "chat.parquet")

    assert counts(job) == (JobStatus.SUCCEEDED, 1, 1, 0, 0)
    example = project.examples.get()
    assert example.input_value == conversation[:2] and example.output == "Hello."
    assert example.metadata == {"source": "hub"}


def test_a_frozen_versions_hf_parquet_export_imports_back_whole(
    team: Team, api: Api, client_for: Any
) -> None:
    # Given a version frozen with an external id and metadata, exported as hf_parquet
    project = generation_project(team, system_prompt="Answer briefly.")
    example(project, "vq", "va", external_id="crm-17", metadata={"k": 1})
    example(project, "wq", "wa", metadata={"k": 2})
    version = freeze(project, team.lead)
    archive = downloaded(client_for(team.lead), f"/api/versions/{version.pk}/export/?format=hf_parquet")
    with zipfile.ZipFile(io.BytesIO(archive)) as opened:
        train = opened.read(f"finch-v{version.number}/data/train-00000-of-00001.parquet")

    # When its train file is imported into a fresh project
    fresh = generation_project(team, name="Fresh")
    job = api.imported(team.lead, fresh, train, "train-00000-of-00001.parquet")

    # Then input, output, external id and metadata come back; the derived conversation does not
    assert counts(job) == (JobStatus.SUCCEEDED, 2, 2, 0, 0)
    assert contents(fresh) == [("vq", "va"), ("wq", "wa")]
    assert external_ids(fresh) == ["crm-17", None]
    assert [example.metadata for example in fresh.examples.order_by("id")] == [{"k": 1}, {"k": 2}]


@pytest.mark.parametrize(
    ("content", "name", "fields", "error"),
    [
        pytest.param(
            b"PAR1" + b"\x00" * 64,
            "cut.parquet",
            {},
            "The file starts as Parquet but cannot be read as one: it may be cut short or damaged",
            id="cut short",
        ),
        pytest.param(
            None,
            "rows.parquet",
            {"format": "jsonl"},
            "The file is Parquet, not text: import it with the format parquet (or auto).",
            id="named another format",
        ),
        pytest.param(
            b"text,label\nhello,world\n",
            "rows.csv",
            {"format": "parquet"},
            "The file is not Parquet (it does not start with PAR1): choose its format, or auto.",
            id="named parquet, not one",
        ),
    ],
)
def test_a_file_that_cannot_be_read_as_parquet_fails_whole_and_says_why(
    team: Team, api: Api, content: bytes | None, name: str, fields: dict[str, str], error: str
) -> None:
    project = new_project(team, TaskType.GENERATION)
    data = content if content is not None else parquet(pa.table({"text": ["a"], "label": ["b"]}))

    job = api.imported(team.lead, project, data, name, **fields)

    assert job["status"] == JobStatus.FAILED and error in job["error"]
    assert not project.examples.exists()


def test_a_damaged_row_group_past_the_first_creates_nothing(team: Team, api: Api) -> None:
    # Given a file whose second row group's bytes were overwritten (its footer intact)
    project = new_project(team, TaskType.GENERATION)
    table = pa.table({"text": [f"q{n} " * 50 for n in range(10_000)], "label": ["a"] * 10_000})
    data = bytearray(parquet(table, row_group_size=5000, compression="none"))
    metadata = pq.ParquetFile(io.BytesIO(bytes(data))).metadata
    second = metadata.row_group(1).column(0)
    start = second.dictionary_page_offset or second.data_page_offset
    data[start : start + 64] = b"\xff" * 64

    job = api.imported(team.lead, project, bytes(data), "damaged.parquet")

    # Then the job fails naming how far it read, and not one row of the first group landed
    assert job["status"] == JobStatus.FAILED
    read = re.search(r"could not be read past row ([0-9,]+)", job["error"])
    assert read is not None and 4096 <= int(read[1].replace(",", "")) <= 5000, job["error"]
    assert "Nothing was imported" in job["error"]
    assert not project.examples.exists()


@override_settings(FINCH_MAX_ROW_BYTES=1000)
def test_a_row_over_the_row_limit_fails_alone(team: Team, api: Api) -> None:
    project = new_project(team, TaskType.GENERATION)
    table = pa.table({"text": ["short", "x" * 2000, "also short"], "label": ["a", "b", "c"]})

    job = api.imported(team.lead, project, parquet(table), "rows.parquet")

    assert counts(job) == (JobStatus.SUCCEEDED, 3, 2, 0, 1)
    assert job["errors"][0]["line"] == 2 and "larger than 1,000 bytes" in job["errors"][0]["error"]


def test_the_import_page_offers_parquet(team: Team, client: Any) -> None:
    project = new_project(team, TaskType.GENERATION)
    client.force_login(team.lead)

    page = client.get(f"/projects/{project.pk}/import/")

    assert page.status_code == 200
    assert b'value="parquet"' in page.content
