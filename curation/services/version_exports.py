"""A frozen version's files: JSONL exports streamed from its items, their sha256, and a Hugging
Face DatasetDict (Parquet, with the data card as its README) for `datasets.load_dataset`.

Items are read in one fixed order (split, then example id) and rendered by
curation.freeze.formats, so every export of a version is byte-identical. The canonical export,
whose sha256 is the version's, is `jsonl` of all items: the train lines, then the eval lines.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from collections.abc import Iterator
from pathlib import Path

from curation.errors import InvalidInput
from curation.freeze import formats
from curation.models import DatasetVersion, Split, TaskType, VersionItem
from curation.models.examples import decode_input

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


def items(version: DatasetVersion, split: str) -> Iterator[formats.Item]:
    """The version's items of one split (or both: train, then eval), in canonical order."""
    task_type = version.project.task_type
    for name in (Split.TRAIN, Split.EVAL) if split == "all" else (Split(split),):
        rows = (
            VersionItem.objects.filter(version=version, split=name)
            .order_by("example_id")
            .values_list("example_id", "input", "output", "metadata")
        )
        for example_id, stored_input, output, metadata in rows.iterator(chunk_size=CHUNK_ROWS):
            yield formats.Item(
                example_id, name.value, decode_input(task_type, stored_input), output, metadata
            )


def rendering(version: DatasetVersion) -> formats.Rendering:
    """The project settings recorded at freeze (later project edits do not change an export)."""
    project = version.manifest.get("project") or {}
    system_prompt = project.get("system_prompt", version.project.system_prompt)
    return formats.Rendering(system_prompt=system_prompt, target_behavior=version.project.target_behavior)


def export_lines(version: DatasetVersion, split: str, file_format: str) -> Iterator[str]:
    check_export_request(split, file_format)
    if file_format == HF_FORMAT:
        raise InvalidInput("hf_parquet is an archive, not lines; see hf_archive.", field="format")
    shape = rendering(version)
    for item in items(version, split):
        yield formats.line(item, file_format, shape)


def export_hashes(version: DatasetVersion) -> dict[str, str]:
    """sha256 of the canonical export (`all`) and of each split's `jsonl` export."""
    digests = {split: hashlib.sha256() for split in SPLITS}
    shape = rendering(version)
    for item in items(version, "all"):
        data = formats.line(item, "jsonl", shape).encode("utf-8")
        digests["all"].update(data)
        digests[item.split].update(data)
    return {split: digest.hexdigest() for split, digest in digests.items()}


def hf_dataset_save(version: DatasetVersion, folder: Path) -> Path:
    """Write the version as a DatasetDict folder: data/{train,eval}-00000-of-00001.parquet and a
    README.md (the data card, with the split layout `datasets.load_dataset(folder)` reads)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from curation.services.datacard import card_markdown

    data = folder / "data"
    data.mkdir(parents=True, exist_ok=True)
    chat = version.project.task_type == TaskType.CHAT
    for split in (Split.TRAIN, Split.EVAL):
        rows = list(items(version, split))
        table = pa.table(
            {
                "id": pa.array([row.example_id for row in rows], type=pa.int64()),
                "input": [formats.canonical(row.input) if chat else row.input for row in rows],
                "output": [row.output for row in rows],
                "messages": [
                    formats.canonical(formats.chat_messages(row, rendering(version))) for row in rows
                ],
                "metadata": [formats.canonical(row.metadata) for row in rows],
            }
        )
        pq.write_table(table, data / f"{split.value}-00000-of-00001.parquet")
    (folder / "README.md").write_text(_dataset_header() + card_markdown(version), encoding="utf-8")
    return folder


def _dataset_header() -> str:
    return (
        "---\nconfigs:\n- config_name: default\n  data_files:\n"
        "  - split: train\n    path: data/train-*.parquet\n"
        "  - split: eval\n    path: data/eval-*.parquet\n---\n\n"
    )


def hf_archive(version: DatasetVersion, scratch: Path) -> bytes:
    """The DatasetDict folder as a zip (fixed dates, sorted names)."""
    folder = hf_dataset_save(version, scratch / f"finch-v{version.number}")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                entry = zipfile.ZipInfo(str(path.relative_to(folder.parent)), date_time=ZIP_DATE)
                archive.writestr(entry, path.read_bytes(), compress_type=zipfile.ZIP_DEFLATED)
    return buffer.getvalue()
