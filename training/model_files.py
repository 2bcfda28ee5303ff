"""What a model folder holds, read without loading it (plain Python: no Django, no torch).

- The manifest: every file of the folder (but `finch.json`, Finch's own recommendations, and
  hidden files) with its size, mtime and sha256. A later check stats each file and rehashes only
  those whose size or mtime changed, so an unchanged folder is checked in milliseconds.
- The weights' sha256: the weight files (`*.safetensors`, `*.bin`, `*.pt`, `*.pth`), sorted by
  their path in the folder, each as the line `sha256sum` prints (`<hex>  <path>\\n`); the
  sha256 of those lines joined. `cd FOLDER && LC_ALL=C ls *.safetensors | xargs sha256sum |
  sha256sum` prints the same for a folder of safetensors files. It is computed from the
  manifest's hashes, so it costs nothing once the manifest is made.
- The parameter count, from the safetensors headers (8 bytes of length, then a JSON header with
  each tensor's shape): no weight is read.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import struct
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")
NOT_MODEL_FILES = {"finch.json"}  # Finch's recommendations: not part of what a run loads
CHUNK = 1 << 20
MAX_SAFETENSORS_HEADER = 100 << 20  # the format's own limit
# Where configs name the longest input the model was trained for, most common first.
CONTEXT_KEYS = ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length", "n_ctx")


def on_this_host(value: str) -> Path | None:
    """The existing file or folder `value` names on this host, or None: also for a string no
    filesystem takes as a path (a name past its length limit, a NUL), which an API caller may send."""
    try:
        path = Path(value).expanduser()
        return path if path.exists() else None
    except (OSError, ValueError):
        return None


@dataclass(frozen=True)
class FileEntry:
    name: str  # the path in the folder, with "/"
    size: int
    mtime_ns: int
    sha256: str

    @classmethod
    def of(cls, data: dict[str, Any]) -> FileEntry:
        return cls(str(data["name"]), int(data["size"]), int(data["mtime_ns"]), str(data["sha256"]))

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Changes:
    """How a folder differs from its manifest; `current` is the manifest as the folder is now
    (stats refreshed where a file was rehashed and found the same)."""

    changed: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    current: list[FileEntry] = field(default_factory=list)
    rehashed: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.changed or self.missing or self.added)

    def describe(self) -> str:
        parts = [
            f"{label} {', '.join(names)}"
            for label, names in (
                ("changed:", self.changed),
                ("missing:", self.missing),
                ("added:", self.added),
            )
            if names
        ]
        return "; ".join(parts)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


def model_files(folder: Path) -> dict[str, Path]:
    """The folder's files by their path in it, sorted; symbolic links are followed (a Hugging
    Face cache snapshot is links to blobs)."""
    found: dict[str, Path] = {}
    for root, dirs, files in os.walk(folder, followlinks=True):
        dirs[:] = sorted(name for name in dirs if not name.startswith("."))
        for name in files:
            path = Path(root) / name
            relative = path.relative_to(folder).as_posix()
            if name.startswith(".") or relative in NOT_MODEL_FILES or not path.is_file():
                continue
            found[relative] = path
    return dict(sorted(found.items()))


def entry(name: str, path: Path) -> FileEntry:
    stat = path.stat()
    return FileEntry(name, stat.st_size, stat.st_mtime_ns, file_sha256(path))


def manifest(folder: Path) -> list[FileEntry]:
    """Every model file of the folder, hashed."""
    return [entry(name, path) for name, path in model_files(folder).items()]


def is_weight(name: str) -> bool:
    return name.endswith(WEIGHT_SUFFIXES)


def weights_sha256(entries: Iterable[FileEntry]) -> str:
    """One sha256 over the weight files, as the module's docstring says; "" when there are none."""
    weights = sorted((item for item in entries if is_weight(item.name)), key=lambda item: item.name)
    if not weights:
        return ""
    lines = "".join(f"{item.sha256}  {item.name}\n" for item in weights)
    return hashlib.sha256(lines.encode("utf-8")).hexdigest()


def changes(folder: Path, recorded: Iterable[FileEntry]) -> Changes:
    """The folder against its manifest: stat first, rehash only a file whose size or mtime moved."""
    before = {item.name: item for item in recorded}
    now = model_files(folder)
    found = Changes(
        missing=sorted(set(before) - set(now)),
        added=sorted(set(now) - set(before)),
    )
    for name in sorted(set(before) & set(now)):
        old, stat = before[name], now[name].stat()
        if (stat.st_size, stat.st_mtime_ns) == (old.size, old.mtime_ns):
            found.current.append(old)
            continue
        new = entry(name, now[name])
        found.rehashed.append(name)
        if new.sha256 != old.sha256:
            found.changed.append(name)
        found.current.append(new)
    return found


def read_config(folder: Path) -> dict[str, Any]:
    """config.json as an object; ValueError says what is wrong with it."""
    path = folder / "config.json"
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path} cannot be read as JSON ({exc}).") from exc
    if not isinstance(config, dict):
        raise ValueError(f"{path} is not a JSON object.")
    return config


def context_length(config: dict[str, Any]) -> int | None:
    """The longest input the model takes (max_position_embeddings, or its other names; a
    multimodal config's text part)."""
    for source in (config, config.get("text_config") or {}):
        for key in CONTEXT_KEYS:
            value = source.get(key) if isinstance(source, dict) else None
            if isinstance(value, int) and not isinstance(value, bool) and value > 0:
                return value
    return None


def has_chat_template(folder: Path) -> bool:
    """Whether the tokenizer carries a chat template (in tokenizer_config.json, or the files newer
    transformers write beside it)."""
    if (folder / "chat_template.jinja").is_file() or (folder / "chat_template.json").is_file():
        return True
    try:
        tokenizer_config = json.loads((folder / "tokenizer_config.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    return isinstance(tokenizer_config, dict) and bool(tokenizer_config.get("chat_template"))


def parameter_count(folder: Path) -> int | None:
    """The parameters in the folder's safetensors files (None when it has none)."""
    files = sorted(folder.glob("*.safetensors"))
    if not files:
        return None
    return sum(safetensors_parameters(path) for path in files)


def safetensors_parameters(path: Path) -> int:
    with path.open("rb") as handle:
        prefix = handle.read(8)
        if len(prefix) != 8:
            raise ValueError(f"{path.name} is not a safetensors file (too short).")
        (length,) = struct.unpack("<Q", prefix)
        if length > MAX_SAFETENSORS_HEADER:
            raise ValueError(f"{path.name} is not a safetensors file (header of {length} bytes).")
        try:
            header = json.loads(handle.read(length))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"{path.name} is not a safetensors file ({exc}).") from exc
    return sum(
        math.prod(tensor["shape"])
        for name, tensor in header.items()
        if name != "__metadata__" and isinstance(tensor, dict)
    )


def readme_license(folder: Path) -> str:
    """The `license:` of a model card's front matter (README.md), as Hugging Face writes it."""
    try:
        text = (folder / "README.md").read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return ""
    if not text.startswith("---"):
        return ""
    for line in text.split("\n")[1:]:
        if line.strip() == "---":
            break
        key, _, value = line.partition(":")
        if key.strip() == "license" and value.strip():
            return value.strip().strip("'\"")
    return ""
