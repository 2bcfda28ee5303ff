"""The base-model registry through its services: what a registration records (the tiny model, and
SmolLM2 as a real instruct model), the check before a load (a changed, missing or added file is
named; an unchanged copy passes), a name or a path at launch, and runs that record the weights
they loaded and refuse a changed model."""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from curation.errors import Conflict, InvalidInput
from curation.models import JobStatus
from curation.services.labeling import items_enqueue
from evaluation.services import eval_execute, eval_run_create
from evaluation.suggestions import suggestion_run_create
from tests.conftest import Team
from tests.training.support import FAST, FreezeFn
from training import model_files, registry
from training.base_models import SETTINGS_FILE
from training.models import BaseModel, BaseModelSource, TrainingRun
from training.preflight import PreflightError
from training.services import run_create, run_execute
from training.tiny import RECOMMENDED_HYPERPARAMETERS, RECOMMENDED_LORA

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_in_tmp")]


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def rewrite(path: Path) -> None:
    """The same size, other bytes: only a rehash can tell."""
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))


# -- registration ---------------------------------------------------------------------------------


def test_registering_the_tiny_model_records_what_it_is(tiny_copy: Path) -> None:
    model = registry.register_folder(folder=tiny_copy, license="CC BY 4.0")

    assert (model.name, model.path) == ("tiny-copy", str(tiny_copy.resolve()))
    names = [item["name"] for item in model.files]
    assert names == sorted(names) and "model.safetensors" in names and "tokenizer.json" in names
    assert SETTINGS_FILE not in names  # Finch's own file, not the model's
    by_name = {item["name"]: item for item in model.files}
    assert by_name["model.safetensors"]["sha256"] == sha256_of(tiny_copy / "model.safetensors")
    assert by_name["config.json"]["size"] == (tiny_copy / "config.json").stat().st_size
    assert model.config_sha256 == sha256_of(tiny_copy / "config.json")
    assert model.parameter_count == 37_024  # what transformers counts for this shape, read from the header
    assert (model.context_length, model.has_chat_template) == (
        1024,
        True,
    )  # the tiny model carries a chat template
    assert model.recommended == {"hyperparameters": RECOMMENDED_HYPERPARAMETERS, "lora": RECOMMENDED_LORA}
    assert model.license == "CC BY 4.0" and model.source_kind == BaseModelSource.FOLDER
    assert "@" in model.registered_by


def test_the_weights_sha256_is_what_the_shell_recipe_prints(tiny_copy: Path) -> None:
    # Given a model with two weight files
    (tiny_copy / "extra.safetensors").write_bytes((tiny_copy / "model.safetensors").read_bytes())
    model = registry.register_folder(folder=tiny_copy)
    # Then docs/training.md's recipe gives the same hash
    recipe = "LC_ALL=C ls *.safetensors | xargs sha256sum | sha256sum"
    shell = subprocess.run(recipe, shell=True, cwd=tiny_copy, capture_output=True, text=True, check=True)
    assert model.weights_sha256 == shell.stdout.split()[0]


def test_smollm2_registers_as_a_real_instruct_model(smollm2_folder: Path) -> None:
    from transformers import AutoModelForCausalLM

    model = registry.register_folder(folder=smollm2_folder, license="apache-2.0")

    expected = AutoModelForCausalLM.from_pretrained(smollm2_folder).num_parameters()
    assert model.parameter_count == expected and model.parameters_label == "134.5M"
    assert (model.context_length, model.has_chat_template) == (8192, True)
    assert model.name == "smollm2-135m-instruct"
    assert registry.summary(model) == "smollm2-135m-instruct, 134.5M parameters, context 8,192, chat template"


def test_a_name_or_folder_registered_already_is_refused(tiny_copy: Path, tmp_path: Path) -> None:
    registry.register_folder(folder=tiny_copy, name="tiny")
    with pytest.raises(Conflict, match="registered already, as tiny"):
        registry.register_folder(folder=tiny_copy, name="tiny-again")
    other = tmp_path / "other"
    other.mkdir()
    for name in ("config.json", "model.safetensors"):
        (other / name).write_bytes((tiny_copy / name).read_bytes())
    with pytest.raises(Conflict, match=r"The name 'tiny' is taken: tiny is the model at .*tiny-copy"):
        registry.register_folder(folder=other, name="tiny")
    with pytest.raises(InvalidInput, match="use lowercase letters"):
        registry.register_folder(folder=other, name="Tiny/Model")
    assert BaseModel.objects.count() == 1


# -- the check before a load ----------------------------------------------------------------------


def test_changed_missing_and_added_files_are_named(tiny_copy: Path) -> None:
    model = registry.register_folder(folder=tiny_copy)
    assert registry.verify_for_load(model) == model.weights_sha256

    rewrite(tiny_copy / "model.safetensors")
    (tiny_copy / "tokenizer.json").unlink()
    (tiny_copy / "notes.txt").write_text("added later")

    with pytest.raises(PreflightError) as refused:
        registry.verify_for_load(model)
    assert (
        "changed: model.safetensors; missing: tokenizer.json; added: notes.txt" in str(refused.value)
        and "tiny-copy" in str(refused.value)
        and "register the changed copy under a new name" in str(refused.value)
    )


def test_finch_json_and_hidden_files_are_not_the_models(tiny_copy: Path) -> None:
    model = registry.register_folder(folder=tiny_copy)
    (tiny_copy / SETTINGS_FILE).write_text("{}")
    (tiny_copy / ".cache").mkdir()
    (tiny_copy / ".cache" / "lock").write_text("x")
    assert registry.verify_for_load(model) == model.weights_sha256


def test_an_unchanged_copy_with_new_mtimes_is_rehashed_once(
    tiny_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a registered model whose files were touched (a copy keeps the bytes, not the times)
    model = registry.register_folder(folder=tiny_copy)
    for path in tiny_copy.iterdir():
        os.utime(path, ns=(1_000_000_000, 1_000_000_000))
    hashed: list[str] = []
    real = model_files.file_sha256

    def counted(path: Path) -> str:
        hashed.append(path.name)
        return real(path)

    monkeypatch.setattr(model_files, "file_sha256", counted)

    # When a worker checks it twice
    first = registry.verify_for_load(BaseModel.objects.get(pk=model.pk))
    rehashed, hashed[:] = sorted(hashed), []
    second = registry.verify_for_load(BaseModel.objects.get(pk=model.pk))

    # Then the first check rehashes every file and accepts them; the second reads stats only
    assert first == second == model.weights_sha256
    assert rehashed == sorted(item["name"] for item in model.files) and hashed == []
    stored = BaseModel.objects.get(pk=model.pk).files
    assert {item["mtime_ns"] for item in stored} == {1_000_000_000}


def test_a_registered_folder_gone_from_this_host_is_named(tiny_copy: Path, tmp_path: Path) -> None:
    model = registry.register_folder(folder=tiny_copy)
    tiny_copy.rename(tmp_path / "moved")
    with pytest.raises(PreflightError, match="which is not a folder on this host"):
        registry.verify_for_load(model)


def test_an_unregistered_folder_is_hashed_and_a_changed_one_refused(tiny_copy: Path) -> None:
    sha256 = registry.sha256_for_load(base_model=str(tiny_copy), registered=None)
    assert sha256 == model_files.weights_sha256(model_files.manifest(tiny_copy))
    rewrite(tiny_copy / "model.safetensors")
    with pytest.raises(PreflightError, match="Training run 7 loaded base model weights with sha256"):
        registry.sha256_for_load(
            base_model=str(tiny_copy), registered=None, expected=sha256, expected_by="Training run 7"
        )


# -- a name or a path at launch -------------------------------------------------------------------


def test_a_launch_names_a_model_by_its_name_or_its_path(tiny_copy: Path, tmp_path: Path) -> None:
    model = registry.register_folder(folder=tiny_copy, name="tiny")
    link = tmp_path / "link-to-tiny"
    link.symlink_to(tiny_copy)
    path = str(tiny_copy.resolve())

    for given in ("tiny", path, path + "/", f"{path}/../tiny-copy", str(link)):
        assert registry.resolve_for_launch(given) == (path, model), given
    assert registry.resolve_for_launch(" /models/elsewhere ") == ("/models/elsewhere", None)
    assert registry.resolve_for_launch("HuggingFaceTB/SmolLM2-135M-Instruct")[1] is None


def test_a_bare_name_no_model_has_is_refused_with_the_registered_name_it_resembles(tiny_copy: Path) -> None:
    # A registered name mistyped would only fail on the worker, after the run was queued
    registry.register_folder(folder=tiny_copy, name="smollm2-135m-instruct")

    with pytest.raises(InvalidInput) as refused:
        registry.resolve_for_launch("smollm2")

    assert refused.value.field == "base_model"
    assert (
        "no registered model is named 'smollm2' (registered: smollm2-135m-instruct)" in refused.value.message
    )
    assert "Did you mean 'smollm2-135m-instruct'?" in refused.value.message
    # A hub id or a path stays the workers' to find
    assert registry.resolve_for_launch("HuggingFaceTB/SmolLM2-135M-Instruct") == (
        "HuggingFaceTB/SmolLM2-135M-Instruct",
        None,
    )
    assert registry.resolve_for_launch("./models/smollm2")[1] is None


@pytest.mark.parametrize("value", ["0" * 300, "models/\x00base"])
def test_a_value_no_filesystem_takes_as_a_path_names_no_model(value: str) -> None:
    # A name past the filesystem's limit (ENAMETOOLONG) or with a NUL: an API caller's input, not a 500
    assert registry.lookup(value) is None
    if "/" in value:
        assert registry.resolve_for_launch(value) == (value, None)
    else:
        with pytest.raises(InvalidInput, match="no registered model is named"):
            registry.resolve_for_launch(value)
    from training import modeling

    with pytest.raises(PreflightError, match="No model at"):
        modeling.model_folder(value)


def test_runs_launched_by_name_record_the_path_and_the_model(
    team: Team, frozen: FreezeFn, tiny_copy: Path
) -> None:
    model = registry.register_folder(folder=tiny_copy, name="tiny")
    version = frozen(team.project, team.lead)

    training = run_create(version=version, user=team.lead, base_model="tiny")
    baseline = eval_run_create(version=version, user=team.lead, base_model="tiny", queue=False)
    items_enqueue(project=team.project, user=None, inputs=[{"input": "Where is my card?"}])
    suggestions = suggestion_run_create(project=team.project, user=team.lead, base_model="tiny", queue=False)
    unregistered = run_create(version=version, user=team.lead, base_model="/models/elsewhere")

    for run in (training, baseline, suggestions):
        assert (run.base_model, run.registered_model) == (model.path, model)
    assert (unregistered.base_model, unregistered.registered_model) == ("/models/elsewhere", None)


# -- runs -----------------------------------------------------------------------------------------


def executed(run: Any) -> TrainingRun:
    run_execute(run.pk)
    run.refresh_from_db()
    return run


def test_a_run_records_the_weights_it_loaded(team: Team, frozen: FreezeFn, tiny_copy: Path) -> None:
    model = registry.register_folder(folder=tiny_copy, name="tiny")
    version = frozen(team.project, team.lead)
    registered = executed(run_create(version=version, user=None, base_model="tiny", hyperparameters=FAST))
    by_path = executed(
        run_create(version=version, user=None, base_model=str(tiny_copy), hyperparameters=FAST)
    )

    assert registered.status == by_path.status == JobStatus.SUCCEEDED, registered.error or by_path.error
    assert registered.base_model_sha256 == by_path.base_model_sha256 == model.weights_sha256
    assert by_path.registered_model == model  # the path of a registered model is that model


def test_a_changed_registered_model_fails_the_run_naming_the_file(
    team: Team, frozen: FreezeFn, tiny_copy: Path
) -> None:
    # Given a registered model whose weights were edited after registration
    registry.register_folder(folder=tiny_copy, name="tiny")
    version = frozen(team.project, team.lead)
    training = run_create(version=version, user=None, base_model="tiny", hyperparameters=FAST)
    baseline = eval_run_create(version=version, user=None, base_model="tiny", queue=False)
    rewrite(tiny_copy / "model.safetensors")

    # When workers take the runs
    training = executed(training)
    eval_execute(baseline.pk)
    baseline.refresh_from_db()

    # Then each fails before loading anything, naming the file
    for run in (training, baseline):
        assert run.status == JobStatus.FAILED
        assert "Base model tiny" in run.error and "changed: model.safetensors" in run.error
        assert run.base_model_sha256 == ""
    assert training.metrics.count() == 0


def test_a_tuned_eval_refuses_a_base_model_other_than_its_adapters(
    team: Team, frozen: FreezeFn, tiny_copy: Path
) -> None:
    # Given a trained run on an unregistered folder, whose weights then changed
    version = frozen(team.project, team.lead)
    training = executed(
        run_create(version=version, user=None, base_model=str(tiny_copy), hyperparameters=FAST)
    )
    assert training.status == JobStatus.SUCCEEDED, training.error
    rewrite(tiny_copy / "model.safetensors")

    # When its adapter is evaluated
    tuned = eval_run_create(version=version, user=None, training_run=training, queue=False)
    eval_execute(tuned.pk)
    tuned.refresh_from_db()

    # Then the eval fails: the adapter was trained on other weights
    assert tuned.status == JobStatus.FAILED
    assert f"Training run {training.pk} loaded base model weights" in tuned.error
