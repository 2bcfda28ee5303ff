"""A frozen version's exports and data card say what the version recorded at freeze, whatever
happens to the project later (curation/services/version_exports.py `recorded`); the `jsonl`
export keeps every field of an item (its external id, from export revision 2); versions frozen
before either change keep the bytes, and so the sha256s, they had; and what the Parquet export
does to metadata of mixed types (curation/freeze/arrow_types.py)."""

from __future__ import annotations

import hashlib
import io
import json
import tempfile
import zipfile
from collections.abc import Callable
from io import StringIO
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from rest_framework.test import APIClient

from curation.freeze import arrow_types, formats
from curation.models import DatasetVersion, ExampleStatus, Project, TaskType
from curation.services import version_exports
from curation.services import versions as versions_service
from curation.services.content import content_hash
from curation.services.datacard import card_markdown
from curation.services.imports import import_job_create
from curation.services.projects import project_create
from curation.services.version_exports import export_hashes, export_lines, hf_archive, rendering
from curation.services.versions import version_create
from curation.tasks import import_examples
from tests.conftest import Team
from tests.factories import ExampleFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_in_tmp")]

ClientFor = Callable[[User | None], APIClient]
TARGET = "tb C ver"


def generation_project(team: Team, *, system_prompt: str = "", name: str = "Fidelity") -> Project:
    return project_create(
        user=team.lead,
        name=name,
        task_type=TaskType.GENERATION,
        target_behavior=TARGET,
        system_prompt=system_prompt,
    )


def example(project: Project, text: str, output: str, **fields: Any) -> None:
    ExampleFactory.create(
        project=project,
        input=text,
        output=output,
        status=ExampleStatus.APPROVED,
        content_hash=content_hash(text, output),
        **fields,
    )


def freeze(project: Project, user: User) -> DatasetVersion:
    version = version_create(project=project, user=user, eval_fraction=0.0)
    version.refresh_from_db()
    return version


def legacy_freeze(project: Project, user: User, monkeypatch: pytest.MonkeyPatch) -> DatasetVersion:
    """A version frozen as Finch froze them before export revision 2: `jsonl` lines without the
    external id, and a manifest that recorded the project's system prompt but not its name or
    target behavior, nor who froze it, nor an export revision."""

    def old_manifest(version: DatasetVersion) -> dict[str, Any]:
        project = version.project
        return {
            "project": {
                "id": project.pk,
                "task_type": project.task_type,
                "system_prompt": project.system_prompt,
                "labels": project.labels,
            }
        }

    with monkeypatch.context() as patched:
        patched.setattr(versions_service, "EXPORT_REVISION", formats.FIRST_REVISION)
        patched.setattr(version_exports, "recorded_manifest", old_manifest)
        version = freeze(project, user)
    assert "export_revision" not in version.manifest and "frozen_by" not in version.manifest
    return version


def downloaded(client: APIClient, url: str) -> bytes:
    response = client.get(url)
    assert response.status_code == 200, response.content
    return b"".join(response.streaming_content) if response.streaming else response.content  # type: ignore[attr-defined]


def zip_entries(archive: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(archive)) as opened:
        return {name: opened.read(name) for name in opened.namelist()}


def hf_bytes(version: DatasetVersion) -> bytes:
    with tempfile.TemporaryDirectory() as scratch:
        return hf_archive(version, Path(scratch))


def parquet_of(version: DatasetVersion) -> pa.Table:
    entries = zip_entries(hf_bytes(version))
    return pq.read_table(io.BytesIO(entries[f"finch-v{version.number}/data/train-00000-of-00001.parquet"]))


def verified(version: DatasetVersion) -> str:
    out = StringIO()
    call_command("verify_version", str(version.pk), stdout=out)
    return out.getvalue()


# --- Finding 1: later project edits change no export and no card ----------------------------------


def test_a_project_edit_after_the_freeze_changes_no_export_nor_the_card(
    team: Team, client_for: ClientFor
) -> None:
    # Given a generation project without a system prompt, frozen
    project = generation_project(team)
    example(project, "vq", "va")
    version = freeze(project, team.lead)
    lead = client_for(team.lead)
    urls = [
        f"/api/versions/{version.pk}/export/?format={file_format}"
        for file_format in ("jsonl", "alpaca", "openai_chat", "hf_parquet")
    ] + [f"/api/versions/{version.pk}/card/"]
    before = {url: downloaded(lead, url) for url in urls}
    assert before[urls[1]] == b'{"input":"vq","instruction":"tb C ver","output":"va"}\n'
    assert (
        before[urls[2]]
        == b'{"messages":[{"content":"vq","role":"user"},{"content":"va","role":"assistant"}]}\n'
    )

    # When the project's target behavior, name and system prompt change, and the lead's username
    patched = lead.patch(
        f"/api/projects/{project.pk}/",
        {"target_behavior": "edited later", "name": "Renamed", "system_prompt": "Be terse."},
        format="json",
    )
    assert patched.status_code == 200, patched.content
    User.objects.filter(pk=team.lead.pk).update(username="renamed-lead")
    version = DatasetVersion.objects.get(pk=version.pk)

    # Then every export, the zip's README and the card are the same bytes
    after = {url: downloaded(lead, url) for url in urls}
    assert after == before
    readme = zip_entries(after[urls[3]])[f"finch-v{version.number}/README.md"].decode()
    assert f"Target behavior: {TARGET}" in readme and "# Fidelity: version 1" in readme
    assert f"by {team.lead.username}" in readme
    assert rendering(version) == formats.Rendering(system_prompt="", target_behavior=TARGET, revision=3)
    assert "verified" in verified(version)


def test_the_manifest_records_what_the_exports_and_the_card_show(team: Team) -> None:
    project = generation_project(team, system_prompt="Answer briefly.")
    example(project, "vq", "va")

    version = freeze(project, team.lead)

    assert version.manifest["export_revision"] == formats.EXPORT_REVISION == 3
    assert version.manifest["frozen_by"] == team.lead.username
    assert version.manifest["project"] == {
        "id": project.pk,
        "name": "Fidelity",
        "task_type": TaskType.GENERATION,
        "target_behavior": TARGET,
        "system_prompt": "Answer briefly.",
        "labels": [],
    }


def test_a_version_frozen_before_the_record_shows_the_live_project_and_keeps_its_bytes(
    team: Team, client_for: ClientFor, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a version frozen before Finch recorded the target behavior (and the external id)
    project = generation_project(team)
    example(project, "vq", "va", external_id="crm-17")
    version = legacy_freeze(project, team.lead, monkeypatch)
    lead = client_for(team.lead)

    # Then its jsonl export is the revision-1 line, its hashes verify, and alpaca is as it was
    line = f'{{"id":{version.items.get().example_id},"input":"vq","metadata":{{}},"output":"va","split":"train"}}\n'
    jsonl = f"/api/versions/{version.pk}/export/?format=jsonl"
    assert downloaded(lead, jsonl) == line.encode()
    assert list(export_lines(version, "all", "jsonl")) == [line]
    assert hashlib.sha256(line.encode()).hexdigest() == version.sha256 == export_hashes(version)["all"]
    assert "verified" in verified(version)
    alpaca = f"/api/versions/{version.pk}/export/?format=alpaca"
    assert downloaded(lead, alpaca) == b'{"input":"vq","instruction":"tb C ver","output":"va"}\n'
    assert f"Target behavior: {TARGET}" in card_markdown(version)

    # When the project is edited: such a version has no record, so it shows the live value (as
    # it always did), and its canonical export and hashes stay
    lead.patch(f"/api/projects/{project.pk}/", {"target_behavior": "edited later"}, format="json")
    version = DatasetVersion.objects.get(pk=version.pk)
    assert downloaded(lead, alpaca) == b'{"input":"vq","instruction":"edited later","output":"va"}\n'
    assert "Target behavior: edited later" in card_markdown(version)
    assert downloaded(lead, jsonl) == line.encode()
    assert export_hashes(version) == {**version.manifest["sha256"], "all": version.sha256}
    assert "verified" in verified(version)


def test_an_export_revision_newer_than_the_code_is_refused() -> None:
    version = DatasetVersion(pk=7, manifest={"export_revision": formats.EXPORT_REVISION + 1})

    with pytest.raises(ValueError, match="export revision 4"):
        version_exports.recorded(version)


# --- Finding 2: the jsonl export keeps the external id --------------------------------------------


def test_the_jsonl_export_carries_the_external_id_and_a_reimport_keeps_it(
    team: Team, client_for: ClientFor
) -> None:
    # Given examples with and without an external id, frozen
    project = generation_project(team)
    example(project, "vq", "va", external_id="crm-17")
    example(project, "wq", "wa")
    version = freeze(project, team.lead)
    ids = sorted(version.items.values_list("example_id", flat=True))

    # When its jsonl export is downloaded (the file written at freeze) and rendered again
    body = downloaded(client_for(team.lead), f"/api/versions/{version.pk}/export/?format=jsonl")

    # Then each line carries the external id (null without one), and the hashes verify
    assert body.decode().splitlines() == [
        f'{{"external_id":"crm-17","id":{ids[0]},"input":"vq","metadata":{{}},"output":"va","split":"train"}}',
        f'{{"external_id":null,"id":{ids[1]},"input":"wq","metadata":{{}},"output":"wa","split":"train"}}',
    ]
    assert "".join(export_lines(version, "all", "jsonl")).encode() == body
    assert hashlib.sha256(body).hexdigest() == version.sha256 == export_hashes(version)["all"]
    assert "verified" in verified(version)
    annotated = [json.loads(line) for line in export_lines(version, "all", "jsonl", annotations=True)]
    assert [record["external_id"] for record in annotated] == ["crm-17", None]

    # And re-imported into a fresh project, the external id stays and the old id is not taken
    fresh = generation_project(team, name="Fresh")
    job = import_job_create(
        project=fresh, user=team.lead, upload=io.BytesIO(body), filename="v1.jsonl", queue=False
    )
    import_examples(job.pk)
    rows = list(fresh.examples.order_by("id").values_list("input", "output", "external_id"))
    assert rows == [("vq", "va", "crm-17"), ("wq", "wa", None)]


# --- Finding 3: mixed metadata types in the Parquet export ----------------------------------------

BIG = 9007199254740993  # 2**53 + 1: a float64 rounds it to 2**53


def test_a_big_integer_beside_a_float_is_json_text_not_a_rounded_float(team: Team) -> None:
    project = generation_project(team)
    example(project, "vq", "va", metadata={"n": BIG, "mixed": [1, 2.5, None, True], "x": 3})
    example(project, "wq", "wa", metadata={"n": 0.5, "x": 0.25})

    table = parquet_of(freeze(project, team.lead))

    metadata = table.column("metadata").type
    assert metadata.field("n").type == pa.string()
    assert metadata.field("x").type == pa.float64()  # small integers and floats: a float, exactly
    assert metadata.field("mixed").type == pa.list_(pa.string())
    rows = table.column("metadata").to_pylist()
    assert [row["n"] for row in rows] == [str(BIG), "0.5"]
    assert [row["x"] for row in rows] == [3.0, 0.25]
    assert rows[0]["mixed"] == ["1", "2.5", None, "true"]  # elements with no common type: JSON text


def test_a_version_frozen_before_keeps_its_parquet_types(team: Team, monkeypatch: pytest.MonkeyPatch) -> None:
    project = generation_project(team)
    example(project, "vq", "va", metadata={"n": BIG})
    example(project, "wq", "wa", metadata={"n": 0.5})

    table = parquet_of(legacy_freeze(project, team.lead, monkeypatch))

    assert table.column("metadata").type.field("n").type == pa.float64()
    assert [row["n"] for row in table.column("metadata").to_pylist()] == [float(2**53), 0.5]


@pytest.mark.parametrize(
    ("values", "lossless", "kind"),
    [
        pytest.param([BIG, 0.5], True, "json", id="big integer and float, lossless: JSON text"),
        pytest.param([BIG, 0.5], False, "float", id="big integer and float, revision 1: float"),
        pytest.param([BIG, 1], True, "bigint", id="big integer and integer: int64"),
        pytest.param([2**53 + 2, 0.5], True, "float", id="an integer a float holds exactly: float"),
        pytest.param([2**63, 0.5], True, "json", id="beyond int64: JSON text"),
        pytest.param([1, 0.5], True, "float", id="small integer and float: float"),
    ],
)
def test_number_shapes(values: list[Any], lossless: bool, kind: str) -> None:
    shape = arrow_types.unified(arrow_types.shape_of(value, lossless=lossless) for value in values)
    assert shape.kind == kind
    assert (
        arrow_types.unified(arrow_types.shape_of(value, lossless=lossless) for value in reversed(values))
        == shape
    )
    if kind == "bigint":
        assert arrow_types.arrow_type(shape) == pa.int64()
        assert [arrow_types.conformed(value, shape) for value in values] == values
