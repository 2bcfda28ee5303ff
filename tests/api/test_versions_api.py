"""The dataset version API: freezing (in the request or as a job), reading, the refusal of any
write, exports (byte-identical, every format, bad parameters named), the card and the diff."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest
from django.contrib.auth.models import User
from pytest_django import Settings
from rest_framework.test import APIClient

from curation.models import DatasetVersion, ExampleStatus, VersionStatus
from tests.api.support import error_fields
from tests.conftest import Team
from tests.factories import LABELS, ExampleFactory

if TYPE_CHECKING:
    from rest_framework.response import _MonkeyPatchedResponse as Response

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_in_tmp")]

ClientFor = Callable[[User | None], APIClient]
CONTRACT = {
    "id",
    "project",
    "number",
    "name",
    "status",
    "sha256",
    "counts",
    "frozen_at",
    "frozen_by",
    "leakage",
    "stats",
}


def approved(team: Team, count: int) -> None:
    for index in range(count):
        ExampleFactory.create(
            project=team.project,
            input=f"Question {index}: how do I do thing {index * 31 % 97}?",
            output=LABELS[index % len(LABELS)],
            status=ExampleStatus.APPROVED,
        )


def content(response: Response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content  # type: ignore[attr-defined]


@pytest.fixture
def lead(team: Team, client_for: ClientFor) -> APIClient:
    return client_for(team.lead)


@pytest.fixture
def frozen(team: Team, lead: APIClient) -> dict[str, Any]:
    approved(team, 40)
    response = lead.post(
        f"/api/projects/{team.project.pk}/versions/",
        {"eval_fraction": 0.25, "seed": 4, "note": "first"},
        format="json",
    )
    assert response.status_code == 201, response.content
    body: dict[str, Any] = response.json()
    return body


def test_a_small_freeze_answers_201_with_the_frozen_version(team: Team, frozen: dict[str, Any]) -> None:
    assert set(frozen) >= CONTRACT
    assert frozen["status"] == "frozen"
    assert frozen["counts"] == {"train": 30, "eval": 10}
    assert frozen["frozen_by"] == team.lead.username
    assert frozen["leakage"]["checked"] is True and frozen["leakage"]["near_duplicate_pairs"] == 0
    assert len(frozen["sha256"]) == 64
    assert frozen["stats"]["labels"]["eval"] == dict.fromkeys(LABELS, 2) | {LABELS[0]: 3, LABELS[1]: 3}


def test_a_large_freeze_answers_202_and_a_worker_freezes_it(
    team: Team, lead: APIClient, settings: Settings, django_capture_on_commit_callbacks: Any
) -> None:
    settings.FINCH_FREEZE_INLINE_MAX = 5
    approved(team, 20)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = lead.post(f"/api/projects/{team.project.pk}/versions/", {}, format="json")
    assert response.status_code == 202
    assert response.json()["status"] == "freezing"

    # While it freezes, another freeze of the project is refused
    again = lead.post(f"/api/projects/{team.project.pk}/versions/", {}, format="json")
    assert again.status_code == 409
    assert "still freezing" in again.json()["errors"][0]["message"]

    for callback in callbacks:  # the queued task, run eagerly
        callback()
    version = lead.get(f"/api/versions/{response.json()['id']}/").json()
    assert version["status"] == "frozen" and version["counts"] == {"train": 18, "eval": 2}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param({"eval_fraction": 0.8}, "eval_fraction", id="eval_fraction above 0.5"),
        pytest.param({"eval_fraction": "a lot"}, "eval_fraction", id="eval_fraction not a number"),
        pytest.param({"seed": -3}, "seed", id="negative seed"),
        pytest.param({"colour": "blue"}, "colour", id="unknown field"),
    ],
)
def test_bad_freeze_parameters_are_named(
    team: Team, lead: APIClient, body: dict[str, Any], field: str
) -> None:
    approved(team, 5)
    response = lead.post(f"/api/projects/{team.project.pk}/versions/", body, format="json")
    assert response.status_code == 400
    assert field in error_fields(response)
    assert not DatasetVersion.objects.exists()


def test_freezing_nothing_is_a_conflict(team: Team, lead: APIClient) -> None:
    response = lead.post(f"/api/projects/{team.project.pk}/versions/", {}, format="json")
    assert response.status_code == 409
    assert "Nothing to freeze" in response.json()["errors"][0]["message"]


@pytest.mark.parametrize("method", ["put", "patch", "delete"])
def test_a_version_cannot_be_written(frozen: dict[str, Any], lead: APIClient, method: str) -> None:
    response = getattr(lead, method)(f"/api/versions/{frozen['id']}/", {"name": "renamed"}, format="json")
    assert response.status_code == 405
    assert lead.get(f"/api/versions/{frozen['id']}/").json()["name"] == "v1"


def test_the_preview_and_the_list(team: Team, frozen: dict[str, Any], lead: APIClient) -> None:
    ExampleFactory.create(project=team.project, status=ExampleStatus.DRAFT)
    preview = lead.get(f"/api/projects/{team.project.pk}/versions/preview/").json()
    assert preview["included"] == 40 and preview["excluded"]["not_approved"] == 1
    listed = lead.get(f"/api/projects/{team.project.pk}/versions/").json()["results"]
    assert [version["id"] for version in listed] == [frozen["id"]]


@pytest.mark.parametrize("file_format", ["jsonl", "openai_chat", "alpaca"])
@pytest.mark.parametrize("split", ["train", "eval", "all"])
def test_exports_stream_the_same_bytes_every_time(
    frozen: dict[str, Any], lead: APIClient, split: str, file_format: str
) -> None:
    url = f"/api/versions/{frozen['id']}/export/?split={split}&format={file_format}"
    first, second = lead.get(url), lead.get(url)
    assert first.status_code == 200
    assert first["Content-Type"] == "application/x-ndjson"
    body = content(first)
    assert body == content(second)
    lines = body.decode("utf-8").splitlines()
    assert len(lines) == {"train": 30, "eval": 10, "all": 40}[split]
    if split == "all" and file_format == "jsonl":
        assert hashlib.sha256(body).hexdigest() == frozen["sha256"]
    assert all(json.loads(line) for line in lines)


@pytest.mark.parametrize(
    ("query", "field"),
    [
        pytest.param("split=test", "split", id="unknown split"),
        pytest.param("format=parquet", "format", id="unknown format"),
    ],
)
def test_bad_export_parameters_are_named(
    frozen: dict[str, Any], lead: APIClient, query: str, field: str
) -> None:
    response = lead.get(f"/api/versions/{frozen['id']}/export/?{query}")
    assert response.status_code == 400
    assert error_fields(response) == [field]


def test_the_huggingface_archive_is_byte_identical_and_holds_parquet_and_the_card(
    frozen: dict[str, Any], lead: APIClient
) -> None:
    url = f"/api/versions/{frozen['id']}/export/?format=hf_parquet"
    first, second = lead.get(url), lead.get(url)
    assert first.status_code == 200 and first["Content-Type"] == "application/zip"
    assert content(first) == content(second)
    names = zipfile.ZipFile(io.BytesIO(content(first))).namelist()
    assert sorted(names) == [
        "finch-v1/README.md",
        "finch-v1/data/eval-00000-of-00001.parquet",
        "finch-v1/data/train-00000-of-00001.parquet",
    ]


def test_the_card_is_markdown_with_the_figures(frozen: dict[str, Any], lead: APIClient) -> None:
    response = lead.get(f"/api/versions/{frozen['id']}/card/")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/markdown")
    text = response.content.decode()
    assert "| train | 30 |" in text and "| eval | 10 |" in text
    assert frozen["sha256"] in text


def test_diff_between_versions(team: Team, frozen: dict[str, Any], lead: APIClient) -> None:
    ExampleFactory.create(
        project=team.project, input="A brand new question", output=LABELS[0], status=ExampleStatus.APPROVED
    )
    second = lead.post(
        f"/api/projects/{team.project.pk}/versions/", {"eval_fraction": 0.25}, format="json"
    ).json()
    diff = lead.get(f"/api/versions/{frozen['id']}/diff/{second['id']}/").json()
    assert len(diff["added"]) == 1 and diff["removed"] == [] and diff["changed"] == []


def test_a_failed_version_has_nothing_to_export(team: Team, lead: APIClient) -> None:
    approved(team, 3)
    version = DatasetVersion.objects.create(
        project=team.project, number=9, eval_fraction=0.1, status=VersionStatus.FAILED, error="boom"
    )
    response = lead.get(f"/api/versions/{version.pk}/export/")
    assert response.status_code == 409
    assert "not frozen" in response.json()["errors"][0]["message"]
