"""The generation engine (evaluation.engines): which one FINCH_GENERATION_ENGINE gives on a host
(auto, forced, and a clear refusal when vLLM cannot run), Finch's side of the vLLM engine, and
the engine recorded on eval runs and shown on the leaderboard and in the API.

The vLLM tests here run against a FAKE `vllm` module (tests/evaluation/vllm_fake.py) put in
sys.modules: they check only Finch's side of the call (the prompt token ids, sampling parameters
and LoRA request it passes, and how it maps the outputs back, in order), not vLLM. That both
engines give the same greedy answers is checked with the real vLLM in test_engines_gpu.py, where
vLLM and a CUDA GPU exist."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from django.core.management import CommandError, call_command
from django.test import Client

from curation.models import JobStatus
from evaluation import engines, generate, vllm_engine
from evaluation.engines import Choice, EngineUnavailable, choose
from evaluation.models import EvalRun
from evaluation.services import eval_execute, eval_run_create
from tests.conftest import Team
from tests.evaluation import vllm_fake
from tests.training.support import LABELS, FreezeFn
from training import modeling

SYSTEM = {"role": "system", "content": "Answer with the intent label only."}
MESSAGES = [
    "My card still has not arrived",
    "What exchange rate do you use",
    "Someone stole my card last night",
    "Where is my new card",
    "Block my card, it is lost",
]
CONVERSATIONS = [[SYSTEM, {"role": "user", "content": text}] for text in MESSAGES]
# What the fake model answers each conversation; the second runs on into a next block (plain format)
ANSWERS = [LABELS[0], f"{LABELS[1]}\n### Input:\nrambling on", LABELS[2], LABELS[0], "x"]


@pytest.fixture(scope="module")
def plain_model(tiny_model: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The tiny model without its chat template: the plain prompt format, whose answers are cut
    at the next block header (ANSWERS[1] checks that both engines cut them alike)."""
    import shutil

    folder = Path(shutil.copytree(tiny_model, tmp_path_factory.mktemp("plain") / "tiny-plain"))
    (folder / "chat_template.jinja").unlink()
    return str(folder)


def adapter_with_rank(folder: Path, rank: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "adapter_config.json").write_text(json.dumps({"r": rank, "rank_pattern": {}}))
    return folder


def with_vllm_and_a_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    vllm_fake.install(monkeypatch, lambda ids: ([], []))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)


# -- the choice ----------------------------------------------------------------------------------


def test_auto_takes_vllm_where_it_is_installed_and_a_gpu_is_there(monkeypatch: pytest.MonkeyPatch) -> None:
    with_vllm_and_a_gpu(monkeypatch)
    assert choose("auto") == Choice("vllm", "FINCH_GENERATION_ENGINE=auto")
    assert choose("vllm") == Choice("vllm", "FINCH_GENERATION_ENGINE=vllm")
    assert choose("transformers") == Choice("transformers", "FINCH_GENERATION_ENGINE=transformers")


HOSTS = {
    "not installed": "vLLM is not installed on this host (pip install 'finch[vllm]' on the GPU worker)",
    "no gpu": "this host has no CUDA GPU, which vLLM needs",
    "rank too large": "the adapter's LoRA rank 1024 is above the 512 vLLM takes",
}


def host(monkeypatch: pytest.MonkeyPatch, case: str, tmp_path: Path) -> Path:
    """A host lacking what `case` names, and an adapter (of rank 1024 for "rank too large")."""
    with_vllm_and_a_gpu(monkeypatch)
    if case == "not installed":
        monkeypatch.setitem(sys.modules, "vllm", None)  # what find_spec reads as "no such module"
    if case == "no gpu":
        monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    return adapter_with_rank(tmp_path / "adapter", 1024 if case == "rank too large" else 16)


@pytest.mark.parametrize("case", HOSTS)
def test_auto_falls_back_on_transformers_saying_why(
    case: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    adapter = host(monkeypatch, case, tmp_path)
    assert choose("auto", adapter) == Choice("transformers", f"FINCH_GENERATION_ENGINE=auto: {HOSTS[case]}")


@pytest.mark.parametrize("case", HOSTS)
def test_vllm_asked_for_where_it_cannot_run_is_refused_saying_why(
    case: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    adapter = host(monkeypatch, case, tmp_path)
    with pytest.raises(EngineUnavailable) as refused:
        choose("vllm", adapter)
    assert str(refused.value) == (
        f"FINCH_GENERATION_ENGINE=vllm, but {HOSTS[case]}. Set FINCH_GENERATION_ENGINE=auto (or "
        "transformers) to evaluate with transformers instead."
    )


def test_an_unknown_setting_is_refused() -> None:
    with pytest.raises(EngineUnavailable, match="give one of auto, transformers, vllm"):
        choose("tensorrt")


def test_an_adapters_rank_is_rounded_up_to_one_vllm_takes(tmp_path: Path) -> None:
    assert [engines.vllm_lora_rank(rank) for rank in (1, 8, 9, 64, 300, 512)] == [8, 8, 16, 64, 320, 512]
    folder = tmp_path / "adapter"
    folder.mkdir()
    (folder / "adapter_config.json").write_text(json.dumps({"r": 16, "rank_pattern": {"q_proj": 48}}))
    assert engines.adapter_rank(folder) == 48


# -- Finch's side of the vLLM engine (a fake vllm) ----------------------------------------------


def scripted(tokenizer: Any) -> dict[tuple[int, ...], vllm_fake.Answer]:
    """Each conversation's prompt ids -> its ANSWERS text as token ids ending with the end token,
    with log-probabilities distinct per conversation."""
    table = {}
    for index, ids in enumerate(generate.prompt_ids(tokenizer, CONVERSATIONS)):
        answer = [*tokenizer(ANSWERS[index], add_special_tokens=False)["input_ids"], tokenizer.eos_token_id]
        table[tuple(ids)] = (answer, [-0.1 * (index + 1) * (k + 1) for k in range(len(answer))])
    return table


def transformers_prompt_ids(tiny_model: str, monkeypatch: pytest.MonkeyPatch) -> list[list[int]]:
    """The prompt ids the transformers engine gives its model for CONVERSATIONS (padding removed)."""
    model, tokenizer = generate.load(tiny_model, None)
    seen: list[list[int]] = []
    real = model.generate

    def recording(**batch: Any) -> Any:
        for ids, mask in zip(batch["input_ids"].tolist(), batch["attention_mask"].tolist(), strict=True):
            seen.append([token for token, real_token in zip(ids, mask, strict=True) if real_token])
        return real(**batch)

    monkeypatch.setattr(model, "generate", recording)
    generate.scored_answers(model, tokenizer, CONVERSATIONS, 2, batch_tokens=64)
    return seen


def test_the_vllm_engine_passes_finchs_prompt_ids_greedy_sampling_and_the_adapter(
    plain_model: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a fake vLLM that answers each prompt as scripted, calls of 2 prompts, and an adapter
    tokenizer = modeling.tokenizer_load(plain_model)
    table = scripted(tokenizer)
    calls = vllm_fake.install(monkeypatch, lambda ids: table[tuple(ids)])
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *args, **kwargs: True)
    monkeypatch.setattr(vllm_engine, "CALL", 2)
    adapter = adapter_with_rank(tmp_path / "adapter", 24)

    # When the vLLM engine answers the conversations
    engine = engines.load(plain_model, adapter, engine="vllm", enforce_eager=True)
    done: list[int] = []
    got = engine.scored_answers(CONVERSATIONS, 12, done.append, batch_tokens=64)

    # Then vLLM was made once with the model's folder, the GPU's precision and LoRA room for the
    # adapter's rank (24 -> 32), the caller's options on top
    assert calls.llms == [
        {
            "model": str(Path(plain_model)),
            "dtype": "bfloat16",
            "enable_lora": True,
            "max_lora_rank": 32,
            "max_loras": 1,
            "enforce_eager": True,
        }
    ]
    # given the very prompt ids the transformers engine gives its model, in the callers' order
    sent = [prompt["prompt_token_ids"] for call in calls.generates for prompt in call["prompts"]]
    assert sent == generate.prompt_ids(tokenizer, CONVERSATIONS)
    assert sorted(sent) == sorted(transformers_prompt_ids(plain_model, monkeypatch))
    # greedy, to the answer's room, the chosen tokens' log-probabilities, with the adapter loaded
    # as an adapter, 2 prompts a call with progress between calls
    assert [len(call["prompts"]) for call in calls.generates] == [2, 2, 1] and done == [2, 4, 5]
    for call in calls.generates:
        assert call["sampling_params"].kwargs == {
            "temperature": 0.0,
            "max_tokens": 12,
            "logprobs": 0,
            "detokenize": False,
        }
        assert call["lora_request"] == vllm_fake.LoRARequest("finch-adapter", 1, str(adapter))
        assert call["use_tqdm"] is False
    # and each output is read back in order: Finch's decoding, the plain format cut at the next
    # block, the mean log-probability over the answer and its end token
    assert [text for text, _ in got] == [LABELS[0], LABELS[1], LABELS[2], LABELS[0], "x"]
    for index, (_, mean) in enumerate(got):
        ids, logprobs = table[tuple(sent[index])]
        assert mean == pytest.approx(sum(logprobs) / len(ids))


def test_the_vllm_engine_without_an_adapter_asks_for_no_lora(
    plain_model: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    tokenizer = modeling.tokenizer_load(plain_model)
    table = scripted(tokenizer)
    calls = vllm_fake.install(monkeypatch, lambda ids: table[tuple(ids)])

    engine = vllm_engine.VllmEngine(plain_model, None)
    answers = engines.answers(engine, CONVERSATIONS[:2], 8, batch_tokens=64)

    assert answers == [LABELS[0], LABELS[1]]
    assert calls.llms == [{"model": str(Path(plain_model)), "dtype": "float32"}]  # this CPU host: no bf16
    assert [call["lora_request"] for call in calls.generates] == [None]
    engine.close()
    assert engine.llm is None


def test_outputs_out_of_the_order_of_their_prompts_are_refused(
    tiny_model: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    tokenizer = modeling.tokenizer_load(tiny_model)
    table = scripted(tokenizer)
    vllm_fake.install(monkeypatch, lambda ids: table[tuple(ids)])
    engine = vllm_engine.VllmEngine(tiny_model, None)
    in_order = engine.llm.generate
    engine.llm.generate = lambda *args, **kwargs: list(reversed(in_order(*args, **kwargs)))

    with pytest.raises(RuntimeError, match="out of the order of their prompts"):
        engine.scored_answers(CONVERSATIONS, 8, batch_tokens=64)


# -- eval runs -----------------------------------------------------------------------------------


def evaluated(version: Any, model: str) -> EvalRun:
    run = eval_run_create(version=version, user=None, base_model=model, queue=False)
    eval_execute(run.pk)
    run.refresh_from_db()
    return run


@pytest.mark.django_db
@pytest.mark.usefixtures("media_in_tmp")
def test_an_eval_run_on_vllm_records_and_shows_its_engine(
    team: Team,
    tiny_model: str,
    frozen: FreezeFn,
    settings: Any,
    monkeypatch: pytest.MonkeyPatch,
    client_for: Any,
) -> None:
    # Given a GPU worker with vLLM (a fake that answers the first label to every prompt)
    version = frozen(team.project, team.lead, count=20)
    tokenizer = modeling.tokenizer_load(tiny_model)
    answer = [*tokenizer(LABELS[0], add_special_tokens=False)["input_ids"], tokenizer.eos_token_id]
    calls = vllm_fake.install(monkeypatch, lambda ids: (answer, [-0.25] * len(answer)))
    monkeypatch.setattr(engines, "vllm_missing", lambda adapter=None: None)
    settings.FINCH_GENERATION_ENGINE = "vllm"

    # When the baseline is evaluated
    run = evaluated(version, tiny_model)

    # Then it answered through vLLM, and says so on the run, in the API and on the leaderboard
    assert run.status == JobStatus.SUCCEEDED, run.error
    assert len(calls.llms) == 1 and "enable_lora" not in calls.llms[0]
    assert set(run.predictions.values_list("raw", flat=True)) == {LABELS[0]}
    assert run.metrics["invalid_label"] == 0.0
    assert (run.prompt_card["engine"], run.prompt_card["engine_reason"]) == (
        "vllm",
        "FINCH_GENERATION_ENGINE=vllm",
    )
    body = client_for(team.lead).get(f"/api/eval-runs/{run.pk}/").json()
    assert body["prompt_card"]["engine"] == "vllm"
    page = Client()
    page.force_login(team.lead)
    html = page.get(f"/versions/{version.pk}/evaluation/").content.decode()
    assert '<td class="engine" title="FINCH_GENERATION_ENGINE=vllm">vllm</td>' in html


@pytest.mark.django_db
@pytest.mark.usefixtures("media_in_tmp")
def test_vllm_asked_for_on_a_host_without_it_fails_the_run_saying_why(
    team: Team, tiny_model: str, frozen: FreezeFn, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a worker without vLLM
    version = frozen(team.project, team.lead, count=20)
    monkeypatch.setitem(sys.modules, "vllm", None)

    # When the setting leaves the choice to the host, the run answers on transformers and says why
    run = evaluated(version, tiny_model)
    assert run.status == JobStatus.SUCCEEDED, run.error
    assert run.prompt_card["engine"] == "transformers"
    assert run.prompt_card["engine_reason"] == f"FINCH_GENERATION_ENGINE=auto: {HOSTS['not installed']}"

    # But when it asks for vLLM, the run fails with the reason and what to do, having answered nothing
    settings.FINCH_GENERATION_ENGINE = "vllm"
    failed = evaluated(version, tiny_model)
    assert failed.status == JobStatus.FAILED
    assert failed.error.startswith(f"FINCH_GENERATION_ENGINE=vllm, but {HOSTS['not installed']}.")
    assert not failed.predictions.exists()

    # and `manage.py evaluate`, which runs here, refuses before it records a run
    before = EvalRun.objects.count()
    with pytest.raises(CommandError, match="vLLM is not installed on this host"):
        call_command("evaluate", "--dataset-version", str(version.pk), "--base-model", tiny_model, "--fresh")
    assert EvalRun.objects.count() == before


def test_a_progress_that_raises_ends_a_batch_between_two_tokens(tiny_model: str) -> None:
    # Given a batch asked for 20 new tokens, and a progress that raises the second time it is called
    model, tokenizer = generate.load(tiny_model, None)
    calls: list[int] = []

    class Stop(Exception):
        pass

    def progress(done: int) -> None:
        calls.append(done)
        if len(calls) == 2:
            raise Stop

    # When it generates: then it stops after the second token of the first batch, not at its end
    with pytest.raises(Stop):
        generate.scored_answers(model, tokenizer, CONVERSATIONS, 20, progress, batch_tokens=10**6)
    assert calls == [0, 0]
