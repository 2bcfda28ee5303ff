"""A frozen version's files: JSONL exports streamed from its items, their sha256, and a Hugging
Face DatasetDict (Parquet, with the data card as its README) for `datasets.load_dataset`.

Items are read in one fixed order (split, then example id) and rendered by
curation.freeze.formats, so every export of a version is byte-identical. The canonical export,
whose sha256 is the version's, is `jsonl` of all items: the train lines, then the eval lines.

Nothing an export or the data card shows is read from the live project: a version renders from
its items and from what its manifest recorded at freeze (the project's name, target behavior,
system prompt and task type, who froze it, and the export revision: `recorded`). A version
frozen before Finch recorded one of them falls back to the live value, as its exports always
did, so they stay what they were.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage

from curation.errors import InvalidInput
from curation.freeze import formats
from curation.models import DatasetVersion, Split, TaskType, VersionItem
from curation.models.examples import decode_input
from curation.services.export_annotations import annotations_by_item, batched, items_of_examples
from curation.services.exports import keyset_rows

SPLITS = ("train", "eval", "all")
HF_FORMAT = "hf_parquet"
EXPORT_FORMATS = (*formats.FORMATS, HF_FORMAT)
CHUNK_ROWS = 5000
# Zip entries carry a date; a fixed one keeps the archive byte-identical too.
ZIP_DATE = (2000, 1, 1, 0, 0, 0)


def check_export_request(split: str, file_format: str) -> None:
    if split not in SPLITS:
        raise InvalidInput(f"Unknown split {split!r}; use one of {', '.join(SPLITS)}.", field="split")
    if file_format not in EXPORT_FORMATS:
        raise InvalidInput(
            f"Unknown export format {file_format!r}; use one of {', '.join(EXPORT_FORMATS)}.", field="format"
        )


def items(
    version: DatasetVersion, split: str, example_ids: list[int] | None = None
) -> Iterator[formats.Item]:
    """The version's items of one split (or both: train, then eval), in canonical order; only
    those of `example_ids` when given."""
    task_type = recorded(version).task_type
    for name in (Split.TRAIN, Split.EVAL) if split == "all" else (Split(split),):
        selected = VersionItem.objects.filter(version=version, split=name)
        if example_ids is not None:
            selected = selected.filter(example_id__in=example_ids)
        fields = ("example_id", "input", "output", "metadata", "external_id")
        rows = keyset_rows(selected, key="example_id", fields=fields, chunk_size=CHUNK_ROWS)
        for example_id, stored_input, output, metadata, external_id in rows:
            yield formats.Item(
                example_id,
                name.value,
                decode_input(task_type, stored_input),
                output,
                formats.canonical(metadata),
                external_id,
            )


@dataclass(frozen=True)
class Recorded:
    """What a version's exports and data card show of its project, as its manifest recorded
    them at freeze."""

    name: str
    task_type: str
    target_behavior: str
    system_prompt: str
    revision: int  # the export revision (curation.freeze.formats.EXPORT_REVISION)


def recorded(version: DatasetVersion) -> Recorded:
    """The project settings a version recorded at freeze. A version frozen before Finch recorded
    one of them (the name and target behavior before export revision 2, the system prompt before
    that) shows the live project's value, as its exports always did: those stay byte-identical,
    and a project edit since shows in them, as it did before. ValueError for a version frozen at
    an export revision this code does not know (by a newer Finch)."""
    manifest = version.manifest or {}
    project = manifest.get("project") or {}
    revision = int(manifest.get("export_revision", formats.FIRST_REVISION))
    if not formats.FIRST_REVISION <= revision <= formats.EXPORT_REVISION:
        raise ValueError(
            f"Version {version.pk} was frozen at export revision {revision}; this Finch renders up "
            f"to {formats.EXPORT_REVISION}."
        )
    live = version.project
    return Recorded(
        name=project.get("name", live.name),
        task_type=project.get("task_type", live.task_type),
        target_behavior=project.get("target_behavior", live.target_behavior),
        system_prompt=project.get("system_prompt", live.system_prompt),
        revision=revision,
    )


def frozen_by(version: DatasetVersion) -> str | None:
    """The username of who froze the version, as recorded at freeze (None: a deleted user); the
    user's name now for a version frozen before Finch recorded it."""
    manifest = version.manifest or {}
    if "frozen_by" in manifest:
        name: str | None = manifest["frozen_by"]
        return name
    return version.created_by.username if version.created_by else None


def recorded_manifest(version: DatasetVersion) -> dict[str, Any]:
    """The manifest entries `recorded` reads, taken now from the project (loaded when the freeze
    began) and the version's creator: a freeze stores them."""
    project = version.project
    return {
        "export_revision": formats.EXPORT_REVISION,
        "frozen_by": version.created_by.username if version.created_by else None,
        "project": {
            "id": project.pk,
            "name": project.name,
            "task_type": project.task_type,
            "target_behavior": project.target_behavior,
            "system_prompt": project.system_prompt,
            "labels": project.labels,
        },
    }


def rendering(version: DatasetVersion) -> formats.Rendering:
    """The project settings recorded at freeze (later project edits do not change an export)."""
    shown = recorded(version)
    return formats.Rendering(
        system_prompt=shown.system_prompt, target_behavior=shown.target_behavior, revision=shown.revision
    )


def export_lines(
    version: DatasetVersion, split: str, file_format: str, *, annotations: bool = False
) -> Iterator[str]:
    """The split's lines in a format; with `annotations` (jsonl only), a line whose example came
    from the labeling queue also lists every annotation of its item."""
    check_export_request(split, file_format)
    check_annotations_fit(file_format, annotations)
    if file_format == HF_FORMAT:
        raise InvalidInput("hf_parquet is an archive, not lines; see hf_archive.", field="format")
    if annotations:
        yield from _annotated_lines(version, split)
        return
    shape = rendering(version)
    for item in items(version, split):
        yield formats.line(item, file_format, shape)


def check_annotations_fit(file_format: str, annotations: bool) -> None:
    """Annotations have no place in a fine-tuning format; the jsonl export carries them."""
    if annotations and file_format != "jsonl":
        raise InvalidInput(
            f"annotations go with the jsonl format only; {file_format} is a fine-tuning format.",
            field="annotations",
        )


def _annotated_lines(version: DatasetVersion, split: str) -> Iterator[str]:
    revision = recorded(version).revision
    for batch in batched(items(version, split)):
        item_of_example = items_of_examples(item.example_id for item in batch)
        answers = annotations_by_item(item_of_example.values())
        for item in batch:
            labeling_item = item_of_example.get(item.example_id)
            if labeling_item is None:
                yield formats.jsonl_line(item, revision)
                continue
            record = json.loads(formats.jsonl_line(item, revision))
            record["annotations"] = answers.get(labeling_item, [])
            yield formats.canonical(record) + "\n"


def export_hashes(version: DatasetVersion) -> dict[str, str]:
    """sha256 of the canonical export (`all`) and of each split's `jsonl` export, from the items."""
    digests = {split: hashlib.sha256() for split in SPLITS}
    revision = recorded(version).revision
    for item in items(version, "all"):
        data = formats.jsonl_line(item, revision).encode("utf-8")
        digests["all"].update(data)
        digests[item.split].update(data)
    return {split: digest.hexdigest() for split, digest in digests.items()}


def canonical_files_write(
    version: DatasetVersion, lines_of: Callable[[Split], Iterable[str]] | None = None
) -> tuple[dict[str, str], dict[str, str]]:
    """Render each split's `jsonl` export once, into a file in storage (what downloads and GPU
    hosts read), hashing it on the way. Returns the hashes (as export_hashes) and file names.
    `lines_of`: a split's `jsonl` lines in canonical order, when the caller holds the items (a
    freeze does); else they are read from the version."""
    lines_of = lines_of or _jsonl_lines_of(version)
    digests = {split: hashlib.sha256() for split in SPLITS}
    names: dict[str, str] = {}
    settings.FILE_UPLOAD_TEMP_DIR.mkdir(parents=True, exist_ok=True)
    for split in (Split.TRAIN, Split.EVAL):
        with tempfile.TemporaryFile(dir=settings.FILE_UPLOAD_TEMP_DIR) as scratch:
            buffer: list[bytes] = []
            for line in lines_of(split):
                buffer.append(line.encode("utf-8"))
                if len(buffer) == CHUNK_ROWS:
                    _write(scratch, buffer, digests, split)
            _write(scratch, buffer, digests, split)
            scratch.seek(0)
            name = f"{_folder(version)}/{split.value}.jsonl"
            default_storage.delete(name)  # a re-run after a killed worker
            names[split.value] = default_storage.save(name, File(scratch))
    return {split: digest.hexdigest() for split, digest in digests.items()}, names


def _jsonl_lines_of(version: DatasetVersion) -> Callable[[Split], Iterator[str]]:
    revision = recorded(version).revision
    return lambda split: (formats.jsonl_line(item, revision) for item in items(version, split))


def _write(scratch: IO[bytes], buffer: list[bytes], digests: dict[str, Any], split: str) -> None:
    data = b"".join(buffer)
    scratch.write(data)
    digests[split].update(data)
    digests["all"].update(data)
    buffer.clear()


def _folder(version: DatasetVersion) -> str:
    return f"versions/project-{version.project_id}/version-{version.pk}"


def canonical_files_discard(version: DatasetVersion) -> None:
    for split in (Split.TRAIN, Split.EVAL):
        default_storage.delete(f"{_folder(version)}/{split.value}.jsonl")


def stored_files(version: DatasetVersion, split: str) -> list[str] | None:
    """The storage names of the canonical `jsonl` files of a split (both, in order, for `all`),
    or None if a file is missing."""
    files = version.manifest.get("files") or {}
    wanted = ["train", "eval"] if split == "all" else [split]
    if not all(name in files and default_storage.exists(files[name]) for name in wanted):
        return None
    return [files[name] for name in wanted]


def stored_lines(version: DatasetVersion, split: str) -> Iterator[bytes] | None:
    """The stored canonical `jsonl` bytes of a split (or both), or None if a file is missing."""
    names = stored_files(version, split)
    return None if names is None else read_files(names)


def read_files(names: list[str]) -> Iterator[bytes]:
    for name in names:
        with default_storage.open(name, "rb") as handle:
            while chunk := handle.read(1 << 20):
                yield chunk


def hf_dataset_save(version: DatasetVersion, folder: Path) -> Path:
    """Write the version as a DatasetDict folder: data/{train,eval}-00000-of-00001.parquet and a
    README.md (the data card, with the split layout `datasets.load_dataset(folder)` reads).

    Columns: `id`, `input` (text, or for chat projects a list of {role, content}), `output`,
    `messages` (the conversation of the `openai_chat` export, as a list of {role, content}: what
    TRL, axolotl and LLaMA-Factory take as conversational data), `metadata` (a struct of one
    type across the version: curation.freeze.arrow_types) and, from export revision 3,
    `external_id`. Written in chunks of CHUNK_ROWS rows."""
    import pyarrow.parquet as pq

    from curation.freeze import arrow_types
    from curation.services.datacard import card_markdown

    data = folder / "data"
    data.mkdir(parents=True, exist_ok=True)
    shown = rendering(version)
    chat = recorded(version).task_type == TaskType.CHAT
    lossless = shown.revision >= 2  # see curation.freeze.arrow_types
    shape = arrow_types.unified(
        arrow_types.shape_of(json.loads(row.metadata), lossless=lossless) for row in items(version, "all")
    )
    for split in (Split.TRAIN, Split.EVAL):
        schema = _hf_table([], shape, chat, shown).schema  # a split without items has a file too
        with pq.ParquetWriter(data / f"{split.value}-00000-of-00001.parquet", schema) as writer:
            for rows in batched(items(version, split), CHUNK_ROWS):
                writer.write_table(_hf_table(rows, shape, chat, shown))
    (folder / "README.md").write_text(_dataset_header() + card_markdown(version), encoding="utf-8")
    return folder


def _hf_table(rows: list[formats.Item], shape: Any, chat: bool, shown: formats.Rendering) -> Any:
    import pyarrow as pa

    from curation.freeze import arrow_types

    columns = {
        "id": pa.array([row.example_id for row in rows], type=pa.int64()),
        "input": arrow_types.messages_array([row.input for row in rows])
        if chat
        else pa.array([row.input for row in rows], type=pa.string()),
        "output": pa.array([row.output for row in rows], type=pa.string()),
        "messages": arrow_types.messages_array([formats.chat_messages(row, shown) for row in rows]),
        "metadata": arrow_types.metadata_array([json.loads(row.metadata) for row in rows], shape),
    }
    if shown.revision >= 3:  # see curation.freeze.formats.EXPORT_REVISION
        columns["external_id"] = pa.array([row.external_id for row in rows], type=pa.string())
    return pa.table(columns)


def _dataset_header() -> str:
    return (
        "---\nconfigs:\n- config_name: default\n  data_files:\n"
        "  - split: train\n    path: data/train-*.parquet\n"
        "  - split: eval\n    path: data/eval-*.parquet\n---\n\n"
    )


def hf_archive(version: DatasetVersion, scratch: Path) -> bytes:
    """The DatasetDict folder as a zip (fixed dates, sorted names)."""
    buffer = io.BytesIO()
    hf_archive_write(version, scratch, buffer)
    return buffer.getvalue()


def hf_archive_write(version: DatasetVersion, scratch: Path, out: IO[bytes]) -> None:
    """Write the zip of hf_archive into `out` (an export job's partial file)."""
    folder = hf_dataset_save(version, scratch / f"finch-v{version.number}")
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                entry = zipfile.ZipInfo(str(path.relative_to(folder.parent)), date_time=ZIP_DATE)
                entry.compress_type = zipfile.ZIP_DEFLATED
                with path.open("rb") as source, archive.open(entry, "w") as target:
                    shutil.copyfileobj(source, target, 1 << 20)
