"""`manage.py import_base_model` (a folder, a GGUF file, the bundled SmolLM2) with its errors, and
`make_tiny_model`, which registers what it writes."""

from __future__ import annotations

import json
import shutil
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from training import registry
from training.gguf import SMOLLM2_FILE, smollm2_gguf_path
from training.model_files import file_sha256
from training.models import BaseModel, BaseModelSource
from training.tiny import RECOMMENDED_LORA

pytestmark = pytest.mark.django_db


def imported(*args: str) -> str:
    out = StringIO()
    call_command("import_base_model", *args, stdout=out)
    return out.getvalue()


def test_a_folder_is_registered_with_its_name_license_and_settings(tiny_copy: Path, tmp_path: Path) -> None:
    settings_file = tmp_path / "settings.json"
    settings_file.write_text(json.dumps({"hyperparameters": {"learning_rate": 0.001}, "lora": {"r": 8}}))

    out = imported(
        str(tiny_copy), "--name", "tiny-v1", "--license", "mit", "--recommend-json", str(settings_file)
    )

    model = BaseModel.objects.get()
    assert f"base model tiny-v1: {tiny_copy.resolve()} (registered;" in out
    assert (model.name, model.license) == ("tiny-v1", "mit")
    assert model.recommended == {"hyperparameters": {"learning_rate": 0.001}, "lora": {"r": 8}}
    assert "already registered" in imported(str(tiny_copy), "--if-missing")
    assert BaseModel.objects.count() == 1


def test_a_model_cards_license_is_read(tiny_copy: Path) -> None:
    (tiny_copy / "README.md").write_text("---\nlicense: apache-2.0\nlanguage: en\n---\n# A model\n")
    imported(str(tiny_copy))
    assert BaseModel.objects.get().license == "apache-2.0"


def no_config(folder: Path) -> None:
    (folder / "config.json").unlink()


def no_weights(folder: Path) -> None:
    (folder / "model.safetensors").unlink()


def broken_config(folder: Path) -> None:
    (folder / "config.json").write_text("{not json")


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (no_config, "has no config.json: not a Hugging Face model folder"),
        (no_weights, r"has no weight files \(\*.safetensors, \*.bin, \*.pt, \*.pth\)"),
        (broken_config, "config.json cannot be read as JSON"),
    ],
)
def test_a_folder_that_is_not_a_model_is_refused(tiny_copy: Path, damage: Any, message: str) -> None:
    damage(tiny_copy)
    with pytest.raises(CommandError, match=message):
        imported(str(tiny_copy))
    assert not BaseModel.objects.exists()


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ([], "Give either PATH"),
        (["{folder}", "--bundled", "smollm2"], "Give either PATH"),
        (["{folder}/absent"], "absent: no such file or folder"),
        (["{folder}/model.safetensors"], "is not a GGUF file"),
        (["{folder}", "--name", "Not A Slug"], "name 'Not A Slug': use lowercase letters"),
        (["{folder}", "--recommend-json", "{folder}/config.json"], "unknown section"),
        (
            ["{folder}", "--recommend-json", "{folder}/bad.json"],
            r"hyperparameters: unknown setting\(s\) learnng_rate",
        ),
        (["{folder}", "--recommend-json", "{folder}/absent.json"], "cannot be read as JSON"),
        (["--bundled", "smollm2", "--name", "mine"], "--bundled takes no --name"),
    ],
)
def test_command_errors_name_the_problem(tiny_copy: Path, arguments: list[str], message: str) -> None:
    (tiny_copy / "bad.json").write_text(json.dumps({"hyperparameters": {"learnng_rate": 0.1}}))
    with pytest.raises(CommandError, match=message):
        imported(*(argument.format(folder=tiny_copy) for argument in arguments))
    assert not BaseModel.objects.exists()


def test_a_taken_name_is_refused(tiny_copy: Path, tiny_model: str) -> None:
    imported(str(tiny_copy), "--name", "tiny")
    with pytest.raises(CommandError, match="The name 'tiny' is taken"):
        imported(tiny_model, "--name", "tiny")


def test_a_gguf_that_fails_after_conversion_leaves_nothing(
    tiny_model: str, tmp_path: Path, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a GGUF file whose conversion writes a folder, and a registration that then fails
    settings.FINCH_BASE_MODELS_DIR = tmp_path / "models"
    gguf = tmp_path / "model.gguf"
    gguf.write_bytes(b"GGUF" + b"\0" * 64)
    monkeypatch.setattr(
        registry, "gguf_to_folder", lambda source, folder: shutil.copytree(tiny_model, folder)
    )

    def interrupted(**arguments: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(registry, "register_folder", interrupted)

    # When it is imported
    with pytest.raises(KeyboardInterrupt):
        imported(str(gguf))

    # Then neither the converted folder nor a record is left
    assert list((tmp_path / "models").iterdir()) == []
    assert not BaseModel.objects.exists()


def test_a_broken_gguf_file_leaves_nothing(tmp_path: Path, settings: Any) -> None:
    settings.FINCH_BASE_MODELS_DIR = tmp_path / "models"
    gguf = tmp_path / "broken.gguf"
    gguf.write_bytes(b"GGUF" + b"\x03\0\0\0" + b"\xff" * 64)
    with pytest.raises(CommandError):
        imported(str(gguf))
    assert list((tmp_path / "models").iterdir()) == []
    assert not BaseModel.objects.exists()


@pytest.mark.any_database  # its subject is the conversion, not the database
def test_the_bundled_smollm2_is_converted_once_and_registered(tmp_path: Path, settings: Any) -> None:
    """The one real GGUF conversion of this file: about 30 s on a free CPU."""
    settings.FINCH_BASE_MODELS_DIR = tmp_path

    out = imported("--bundled", "smollm2", "--if-missing")

    model = BaseModel.objects.get()
    folder = tmp_path / "smollm2-135m-instruct"
    assert "base model smollm2-135m-instruct" in out and model.path == str(folder)
    assert (model.source_kind, model.source_file) == (BaseModelSource.GGUF, SMOLLM2_FILE)
    assert model.source_sha256 == file_sha256(smollm2_gguf_path())
    assert (model.license, model.context_length, model.has_chat_template) == ("apache-2.0", 8192, True)
    assert model.parameters_label == "134.5M"
    assert model.recommended["lora"] == {"r": 16, "alpha": 32}
    assert registry.verify_for_load(model) == model.weights_sha256
    assert sorted(path.name for path in tmp_path.iterdir()) == ["smollm2-135m-instruct"]
    # A second `make run` finds it registered and converts nothing
    assert "already registered" in imported("--bundled", "smollm2", "--if-missing")
    with pytest.raises(CommandError, match="The name 'smollm2-135m-instruct' is taken"):
        imported("--bundled", "smollm2")


# -- make_tiny_model -----------------------------------------------------------------------------


def test_make_tiny_model_registers_what_it_writes(tmp_path: Path) -> None:
    folder = tmp_path / "tiny-banking77"
    out = StringIO()
    call_command("make_tiny_model", str(folder), "--vocab-size", "300", "--hidden-size", "16", stdout=out)

    model = BaseModel.objects.get()
    assert "registered as tiny-banking77" in out.getvalue()
    assert model.path == str(folder.resolve()) and model.recommended["lora"] == RECOMMENDED_LORA
    # --if-missing keeps it; without, a registered model is never rewritten
    call_command("make_tiny_model", str(folder), "--if-missing", stdout=StringIO())
    assert BaseModel.objects.count() == 1
    with pytest.raises(
        CommandError, match="is registered as tiny-banking77: a registered model is never rewritten"
    ):
        call_command("make_tiny_model", str(folder), stdout=StringIO())
    assert registry.verify_for_load(model) == model.weights_sha256


def test_make_tiny_model_registers_a_model_made_before_the_registry(tmp_path: Path) -> None:
    from training.tiny import TinyShape, make_tiny_model, sample_texts

    folder = make_tiny_model(tmp_path / "old-tiny", sample_texts(), TinyShape(vocab_size=300, hidden_size=16))
    call_command("make_tiny_model", str(folder), "--if-missing", "--name", "old", stdout=StringIO())
    assert BaseModel.objects.get().name == "old"
