"""A version's exports, downloaded as a user would, feed TRL's SFTTrainer as they are: loaded with
`datasets.load_dataset`, conversations train with `assistant_only_loss=True` on the tiny model
(whose chat template marks the answers), and only the answers (with their end token) carry loss."""

from __future__ import annotations

import io
import math
import zipfile
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from curation.models import DatasetVersion, ExampleStatus, Project, TaskType
from curation.services.examples import example_create
from curation.services.projects import project_create
from curation.services.versions import version_create
from tests.conftest import Team
from tests.factories import LABELS, ExampleFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_in_tmp")]

SYSTEM = "Answer with the intent label only."
EOS = "<|eos|>"


def downloaded(client: APIClient, url: str) -> bytes:
    response = client.get(url)
    assert response.status_code == 200, response.content
    return b"".join(response.streaming_content) if response.streaming else response.content  # type: ignore[attr-defined]


def load_jsonl(client: APIClient, version: DatasetVersion, file_format: str, folder: Path) -> Any:
    from datasets import load_dataset

    path = folder / f"{file_format}.jsonl"
    path.write_bytes(
        downloaded(client, f"/api/versions/{version.pk}/export/?split=train&format={file_format}")
    )
    return load_dataset("json", data_files=str(path), split="train", cache_dir=str(folder / "cache"))


def load_parquet(client: APIClient, version: DatasetVersion, folder: Path) -> Any:
    from datasets import load_dataset

    archive = zipfile.ZipFile(
        io.BytesIO(downloaded(client, f"/api/versions/{version.pk}/export/?format=hf_parquet"))
    )
    archive.extractall(folder)
    return load_dataset(str(folder / f"finch-v{version.number}"), cache_dir=str(folder / "cache"))


def sft(dataset: Any, tiny_model: str, folder: Path, *, assistant_only_loss: bool) -> tuple[Any, Any]:
    """Two steps of SFTTrainer on the tiny model (CPU); the trainer and its train output."""
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    config = SFTConfig(
        output_dir=str(folder / "trl"),
        max_steps=2,
        per_device_train_batch_size=2,
        max_length=128,
        assistant_only_loss=assistant_only_loss,
        logging_steps=1,
        save_strategy="no",
        report_to=[],
        use_cpu=True,
        disable_tqdm=True,
    )
    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    model = AutoModelForCausalLM.from_pretrained(tiny_model)
    trainer = SFTTrainer(model=model, args=config, train_dataset=dataset, processing_class=tokenizer)
    return trainer, trainer.train()


def supervised_text(trainer: Any, row: int) -> tuple[str, int]:
    """The decoded tokens of a prepared row that carry loss, and how many tokens carry none."""
    prepared = trainer.train_dataset[row]
    kept = [
        token for token, label in zip(prepared["input_ids"], prepared["labels"], strict=True) if label != -100
    ]
    return trainer.processing_class.decode(kept), len(prepared["labels"]) - len(kept)


def assert_trained(output: Any, trainer: Any) -> None:
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    assert output.global_step == 2 and len(losses) == 2
    assert all(math.isfinite(loss) for loss in [*losses, output.training_loss])


def assert_answers_alone_carry_loss(trainer: Any, conversations: list[list[dict[str, str]]]) -> None:
    for row, conversation in enumerate(conversations[:4]):
        text, masked = supervised_text(trainer, row)
        answers = [turn["content"] for turn in conversation if turn["role"] == "assistant"]
        assert text == "".join(f"{answer}{EOS}" for answer in answers)
        assert masked > 0  # the prompt's tokens (system, user, the headers) are there and masked


@pytest.fixture
def classification(team: Team) -> DatasetVersion:
    team.project.system_prompt = SYSTEM
    team.project.save()
    for index in range(16):
        ExampleFactory.create(
            project=team.project,
            input=f"Question {index}: where is my card {index * 7 % 23}?",
            output=LABELS[index % len(LABELS)],
            status=ExampleStatus.APPROVED,
            metadata={"source": "web", "score": index} if index % 2 else {},
        )
    return frozen(team.project, team.lead)


@pytest.fixture
def chat(team: Team) -> DatasetVersion:
    project = project_create(
        user=team.lead,
        name="Support chat",
        task_type=TaskType.CHAT,
        target_behavior="Answer banking questions.",
    )
    for index in range(12):
        turns = [
            {"role": "user", "content": f"My card {index} is late."},
            {"role": "assistant", "content": "Sorry to hear that. Since when?"},
            {"role": "user", "content": f"Since {index + 2} days."},
        ]
        system = [{"role": "system", "content": "You are a careful bank assistant."}] if index % 3 else []
        example_create(
            project=project,
            user=team.lead,
            input=[*system, *turns],
            output=f"It can take up to {index + 5} days; I will check card {index}.",
            metadata={"channel": "app", "turns": 3},
            status=ExampleStatus.APPROVED,
        )
    return frozen(project, team.lead)


def frozen(project: Project, user: User) -> DatasetVersion:
    version = version_create(project=project, user=user, eval_fraction=0.25)
    assert version.is_frozen, version.error
    return version


@pytest.mark.parametrize("project", ["classification", "chat"])
def test_openai_chat_trains_as_downloaded_with_assistant_only_loss(
    request: pytest.FixtureRequest, team: Team, client_for: Any, tiny_model: str, tmp_path: Path, project: str
) -> None:
    version = request.getfixturevalue(project)
    dataset = load_jsonl(client_for(team.lead), version, "openai_chat", tmp_path)
    assert dataset.column_names == ["messages"]

    trainer, output = sft(dataset, tiny_model, tmp_path, assistant_only_loss=True)

    assert_trained(output, trainer)
    assert_answers_alone_carry_loss(trainer, dataset["messages"])


@pytest.mark.parametrize("project", ["classification", "chat"])
def test_hf_parquet_holds_nested_conversations_and_metadata_and_trains_as_downloaded(
    request: pytest.FixtureRequest, team: Team, client_for: Any, tiny_model: str, tmp_path: Path, project: str
) -> None:
    version = request.getfixturevalue(project)
    splits = load_parquet(client_for(team.lead), version, tmp_path)
    train = splits["train"]
    assert set(splits) == {"train", "eval"} and len(train) == version.counts["train"]
    assert train.column_names == ["id", "input", "output", "messages", "metadata", "external_id"]
    first = train[0]
    assert first["messages"][-1] == {"role": "assistant", "content": first["output"]}
    if project == "chat":
        assert first["input"] == first["messages"][:-1] and isinstance(first["metadata"], dict)
        assert first["metadata"] == {"channel": "app", "turns": 3}
    else:
        assert first["messages"][0] == {"role": "system", "content": SYSTEM}
        assert {row["source"] for row in train["metadata"]} == {"web", None}

    trainer, output = sft(train, tiny_model, tmp_path, assistant_only_loss=True)

    assert_trained(output, trainer)
    assert_answers_alone_carry_loss(trainer, train["messages"])


@pytest.mark.parametrize("file_format", ["alpaca", "jsonl"])
def test_instruction_formats_train_as_prompt_and_completion_with_the_prompt_masked(
    classification: DatasetVersion,
    team: Team,
    client_for: Any,
    tiny_model: str,
    tmp_path: Path,
    file_format: str,
) -> None:
    """Not conversations: TRL takes them as prompt and completion columns (completion-only loss)."""
    rows = load_jsonl(client_for(team.lead), classification, file_format, tmp_path)
    if file_format == "alpaca":
        rows = rows.map(
            lambda row: {"prompt": f"{row['instruction']}\n\n{row['input']}\n", "completion": row["output"]}
        )
        rows = rows.remove_columns(["instruction", "input", "output"])
    else:
        rows = rows.rename_columns({"input": "prompt", "output": "completion"})

    trainer, output = sft(rows, tiny_model, tmp_path, assistant_only_loss=False)

    assert_trained(output, trainer)
    for row in range(4):
        text, masked = supervised_text(trainer, row)
        assert text == rows[row]["completion"] + EOS and masked > 0
