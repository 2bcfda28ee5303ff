"""Files in and out of the labeling queue over the REST API: a file of inputs only fills the queue
(status `unlabeled`) with the project's overlap sample, rows with an output are row errors; exports
list every annotation of a labeled row on request and are unchanged without it."""

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

from curation.models import Example, ExampleStatus, ImportJob, ItemStatus, LabelingItem, Project, Role
from curation.services.content import content_hash
from curation.services.labeling import annotation_submit, items_enqueue, next_assignment
from curation.services.overlap_sample import target_overlap
from curation.services.versions import version_create
from tests.conftest import Team
from tests.factories import ExampleFactory, MembershipFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_in_tmp")]

ClientFor = Callable[[User | None], APIClient]
API = "/api"


@pytest.fixture
def upload(
    client_for: ClientFor, django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks
) -> Callable[..., Any]:
    """POST a file to the project's imports as the user; the job has run when it returns."""

    def send(user: User, project: Project, content: bytes, name: str, **fields: str) -> Any:
        data = {"file": SimpleUploadedFile(name, content), **fields}
        with django_capture_on_commit_callbacks(execute=True):
            return client_for(user).post(f"{API}/projects/{project.pk}/imports/", data, format="multipart")

    return send


def jsonl(*records: dict[str, Any]) -> bytes:
    return "".join(json.dumps(record) + "\n" for record in records).encode()


def body(response: Any) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def sampled(team: Team) -> Project:
    project = team.project
    project.labeling_overlap, project.labeling_overlap_share, project.labeling_sample_seed = 2, 0.5, 11
    project.save()
    return project


# --- imports ------------------------------------------------------------------------------------


def test_a_jsonl_file_of_inputs_fills_the_queue_with_the_projects_overlap_sample(
    team: Team, client_for: ClientFor, upload: Callable[..., Any]
) -> None:
    project = sampled(team)
    texts = [f"Customer message number {n}" for n in range(60)]
    content = jsonl(*[{"text": text, "channel": "chat"} for text in texts], {"text": texts[0]})

    response = upload(team.lead, project, content, "inputs.jsonl", status="unlabeled")

    assert response.status_code == 202, response.content
    job = client_for(team.lead).get(f"{API}/imports/{response.json()['id']}/").json()
    assert (job["status"], job["total"], job["created"], job["skipped_existing"], job["failed"]) == (
        "succeeded",
        61,
        60,
        1,
        0,
    )
    assert job["initial_status"] == "unlabeled" and job["progress"] == 1.0
    items = list(LabelingItem.objects.filter(project=project).order_by("id"))
    assert [item.input for item in items] == texts  # in file order
    assert all(item.input_hash == content_hash(item.input, "") for item in items)
    assert all(item.target_overlap == target_overlap(project, item.input_hash) for item in items)
    assert {item.target_overlap for item in items} == {1, 2}  # a sample, not all or none
    first = items[0]
    assert first.status == ItemStatus.QUEUED and (first.coverage, first.annotation_count) == (0, 0)
    assert first.source == f"import:{job['id']}" and first.metadata == {"channel": "chat"}
    assert first.created_by == team.lead
    assert not Example.objects.filter(project=project).exists()
    again = upload(team.lead, project, content, "inputs.jsonl", status="unlabeled").json()
    assert ImportJob.objects.get(pk=again["id"]).created == 0  # nothing queued twice


def test_a_csv_file_of_inputs_fills_the_queue_and_the_queue_hands_it_out(
    team: Team, client_for: ClientFor, upload: Callable[..., Any]
) -> None:
    content = b"id,input,output,region\nq-1,Where is my card?,,eu\nq-2,What is the rate?,,us\n"

    response = upload(team.lead, team.project, content, "inputs.csv", status="unlabeled")

    assert response.status_code == 202
    items = LabelingItem.objects.filter(project=team.project).order_by("id")
    assert [(i.external_id, i.input, i.metadata) for i in items] == [
        ("q-1", "Where is my card?", {"region": "eu"}),
        ("q-2", "What is the rate?", {"region": "us"}),
    ]
    claim = client_for(team.annotator).post(f"{API}/projects/{team.project.pk}/labeling/next/")
    assert claim.json()["item"]["id"] == items[0].pk


def test_rows_with_an_output_are_row_errors_naming_them_and_the_others_are_queued(
    team: Team, client_for: ClientFor, upload: Callable[..., Any]
) -> None:
    content = jsonl(
        {"input": "no answer yet"},
        {"input": "already answered", "output": "card_arrival"},
        {"input": "blank answer", "output": "   "},
        {"input": ""},
    )

    response = upload(team.lead, team.project, content, "rows.jsonl", status="unlabeled")

    job = client_for(team.lead).get(f"{API}/imports/{response.json()['id']}/").json()
    assert (job["total"], job["created"], job["failed"]) == (4, 2, 2)
    errors = {error["line"]: error["error"] for error in job["errors"]}
    assert errors[2] == (
        "This import fills the labeling queue; row 2 has an output. Leave the output out (or empty), "
        "or import the file as examples."
    )
    assert 4 in errors and "input" in errors[4]
    queued = set(LabelingItem.objects.values_list("input", flat=True))
    assert queued == {"no answer yet", "blank answer"}
    assert not Example.objects.exists()


def test_only_leads_fill_the_queue_by_import_and_old_imports_are_unchanged(
    team: Team, upload: Callable[..., Any]
) -> None:
    content = jsonl({"input": "Where is my card?"})

    refused = {
        role: upload(getattr(team, role), team.project, content, "rows.jsonl", status="unlabeled").status_code
        for role in ("annotator", "reviewer")
    }
    drafts = upload(team.annotator, team.project, content, "rows.jsonl")
    bogus = upload(team.lead, team.project, content, "rows.jsonl", status="queued")

    assert refused == {"annotator": 403, "reviewer": 403}
    assert drafts.status_code == 202 and drafts.json()["initial_status"] == "draft"
    assert Example.objects.get().status == ExampleStatus.DRAFT and not LabelingItem.objects.exists()
    assert bogus.status_code == 400


# --- exports ------------------------------------------------------------------------------------


def labeled_twice(team: Team) -> tuple[Example, Example]:
    """One item labeled by two annotators who agree, and one example written whole."""
    project = team.project
    project.labeling_overlap = 2
    project.save()
    items_enqueue(project=project, user=team.lead, inputs=[{"input": "Where is my card?"}])
    people = [MembershipFactory.create(project=project, role=Role.ANNOTATOR).user for _ in range(2)]
    for user in people:
        claim = next_assignment(project=project, user=user)
        assert claim is not None
        annotation_submit(item=claim.item, user=user, output="card_arrival")
    labeled = Example.objects.get(labeling_item__isnull=False)
    written = ExampleFactory.create(project=project, input="Rate today?", output="exchange_rate")
    return labeled, written


def test_the_streamed_export_lists_every_annotation_on_request_and_only_then(
    team: Team, client_for: ClientFor
) -> None:
    labeled, written = labeled_twice(team)
    url = f"{API}/projects/{team.project.pk}/examples/export/"
    me = client_for(team.annotator)

    def lines(**params: str) -> list[dict[str, Any]]:
        response = me.get(url, params)
        assert response.status_code == 200
        return [json.loads(line) for line in body(response).decode().splitlines()]

    plain = {row["id"]: row for row in lines()}
    annotated = {row["id"]: row for row in lines(annotations="true")}

    assert "annotations" not in plain[labeled.pk] and "labeling_item_id" not in plain[labeled.pk]
    answers = annotated[labeled.pk]["annotations"]
    assert [a["output"] for a in answers] == ["card_arrival", "card_arrival"]
    assert {a["annotator"] for a in answers} == set(
        labeled.labeling_item.assignments.values_list("annotator__username", flat=True)  # type: ignore[union-attr]
    )
    assert all(a["submitted_at"] for a in answers)
    assert "annotations" not in annotated[written.pk]
    assert {k: v for k, v in annotated[labeled.pk].items() if k != "annotations"} == plain[labeled.pk]
    bad = me.get(url, {"annotations": "maybe"})
    assert bad.status_code == 400

    response = me.get(url, {"annotations": "true", "format": "csv"})
    rows = list(csv.DictReader(io.StringIO(body(response).decode())))
    by_id = {int(row["id"]): row for row in rows}
    assert len(json.loads(by_id[labeled.pk]["annotations"])) == 2 and by_id[written.pk]["annotations"] == ""
    plain_csv = body(me.get(url, {"format": "csv"})).decode()
    assert "annotations" not in plain_csv.splitlines()[0]


def download(client: APIClient, job_id: int) -> str:
    response = client.get(f"{API}/exports/{job_id}/download/")
    assert response.status_code == 200, response.content
    return body(response).decode()


def test_export_jobs_of_the_project_and_of_a_version_carry_the_annotations_on_request(
    team: Team, client_for: ClientFor, django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks
) -> None:
    labeled, _ = labeled_twice(team)
    me = client_for(team.lead)
    with django_capture_on_commit_callbacks(execute=True):
        job = me.post(
            f"{API}/projects/{team.project.pk}/exports/", {"annotations": True}, format="json"
        ).json()
    assert job["annotations"] is True
    rows = [json.loads(line) for line in download(me, job["id"]).splitlines()]
    assert [len(row.get("annotations", [])) for row in rows if row["id"] == labeled.pk] == [2]

    Example.objects.filter(project=team.project).update(status=ExampleStatus.APPROVED)
    for n in range(2):
        ExampleFactory.create(project=team.project, status=ExampleStatus.APPROVED, input=f"More {n}")
    version = version_create(project=team.project, user=team.lead, eval_fraction=0.25)
    url = f"{API}/versions/{version.pk}/exports/"
    with django_capture_on_commit_callbacks(execute=True):
        annotated = me.post(url, {"format": "jsonl", "annotations": True}, format="json").json()
        plain = me.post(url, {"format": "jsonl"}, format="json").json()
    refused = me.post(url, {"format": "alpaca", "annotations": True}, format="json")

    lines = {json.loads(line)["id"]: json.loads(line) for line in download(me, annotated["id"]).splitlines()}
    assert len(lines[labeled.pk]["annotations"]) == 2
    assert sum("annotations" in line for line in lines.values()) == 1
    assert "annotations" not in download(me, plain["id"])
    assert refused.status_code == 400 and refused.json()["errors"][0]["field"] == "annotations"
