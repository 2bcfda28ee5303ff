"""A run's files on Django's default storage (a folder locally, S3-compatible in production), so
a resumed run on another GPU host finds the checkpoint, and the web tier serves the adapter.

Layout under `training/run-{id}/`: `checkpoint-{step}/` folders, `latest.json` naming the newest
complete one (written after the folder, so a reader never sees half a checkpoint), `best/` (the
adapter with the lowest eval loss so far), `adapter/` (the adapter the run delivered), and on
request `merged/` (the base model with the adapter folded in) with `merged.json`, its record
(training/merged.py).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from django.core.files.base import ContentFile, File
from django.core.files.storage import default_storage

LATEST = "latest.json"
ADAPTER_WEIGHTS = "adapter_model.safetensors"


def run_prefix(run_id: int) -> str:
    return f"training/run-{run_id}"


def folder_upload(local: Path, prefix: str) -> None:
    """Copy a local folder's files to storage under `prefix`, replacing what is there."""
    for path in sorted(local.rglob("*")):
        if path.is_file():
            name = f"{prefix}/{path.relative_to(local).as_posix()}"
            if default_storage.exists(name):
                default_storage.delete(name)
            with path.open("rb") as handle:
                default_storage.save(name, File(handle))


def folder_download(prefix: str, local: Path) -> None:
    folders, files = default_storage.listdir(prefix)
    local.mkdir(parents=True, exist_ok=True)
    for name in files:
        with default_storage.open(f"{prefix}/{name}", "rb") as source:
            (local / name).write_bytes(source.read())
    for folder in folders:
        folder_download(f"{prefix}/{folder}", local / folder)


def folder_delete(prefix: str) -> None:
    if not default_storage.exists(prefix):
        return
    folders, files = default_storage.listdir(prefix)
    for name in files:
        default_storage.delete(f"{prefix}/{name}")
    for folder in folders:
        folder_delete(f"{prefix}/{folder}")
    if default_storage.exists(prefix):  # a file system keeps the emptied folder (object stores have none)
        default_storage.delete(prefix)


def checkpoint_publish(run_id: int, local: Path, step: int) -> None:
    """Upload a checkpoint, point `latest.json` at it, then drop the older ones."""
    prefix = run_prefix(run_id)
    name = f"checkpoint-{step}"
    folder_upload(local, f"{prefix}/{name}")
    previous = checkpoint_latest(run_id)
    _replace(f"{prefix}/{LATEST}", json.dumps({"step": step, "folder": name}).encode())
    if previous is not None and previous[1] != name:
        folder_delete(f"{prefix}/{previous[1]}")


def checkpoint_latest(run_id: int) -> tuple[int, str] | None:
    """(step, folder name) of the newest complete checkpoint, if any."""
    name = f"{run_prefix(run_id)}/{LATEST}"
    if not default_storage.exists(name):
        return None
    with default_storage.open(name, "rb") as handle:
        pointer = json.loads(handle.read())
    return int(pointer["step"]), str(pointer["folder"])


def checkpoints_discard(run_id: int) -> None:
    """Checkpoints are only for resuming: a finished run keeps its adapter alone."""
    prefix = run_prefix(run_id)
    latest = checkpoint_latest(run_id)
    if latest is not None:
        folder_delete(f"{prefix}/{latest[1]}")
        default_storage.delete(f"{prefix}/{LATEST}")
    folder_delete(f"{prefix}/best")


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def json_write(name: str, document: dict[str, Any]) -> None:
    _replace(name, json.dumps(document, sort_keys=True).encode())


def json_read(name: str) -> dict[str, Any] | None:
    if not default_storage.exists(name):
        return None
    with default_storage.open(name, "rb") as handle:
        document: dict[str, Any] = json.loads(handle.read())
    return document


def _replace(name: str, content: bytes) -> None:
    if default_storage.exists(name):
        default_storage.delete(name)
    default_storage.save(name, ContentFile(content))
