"""Both engines give the same greedy answers: the real vLLM against transformers on a small test
set, with the tiny model and a LoRA adapter that changes its answers. Skipped unless vLLM and a
CUDA GPU are there (a GPU worker with the `vllm` extra).

Both run in float32: the check is that the two engines ask the same prompts, apply the adapter
and stop and read answers back by the same rules. In bfloat16 two different sets of kernels
round differently, and a random tiny model's near-ties would then flip a token now and then."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

from evaluation import engines
from tests.training.support import LABELS, TOPICS
from training.tiny import TinyShape, make_tiny_model, sample_texts

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("vllm") is None or not torch.cuda.is_available(),
    reason="needs vLLM (pip install 'finch[vllm]') and a CUDA GPU",
)

# Heads of 64 dimensions, which vLLM's attention kernels take (the test fixture's are 8).
SHAPE = TinyShape(vocab_size=512, hidden_size=128, heads=2, intermediate_size=256)
NEW_TOKENS = 24


def random_adapter(model: str, folder: Path) -> Path:
    """A rank-8 LoRA adapter on every projection, initialized at random (not as a no-op)."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    config = LoraConfig(
        r=8,
        lora_alpha=16,
        target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
        init_lora_weights=False,
        task_type="CAUSAL_LM",
    )
    get_peft_model(AutoModelForCausalLM.from_pretrained(model), config).save_pretrained(str(folder))
    return folder


def answered(model: str, adapter: Path | None, engine: str, **options: object) -> list[tuple[str, float]]:
    conversations = [
        [
            {"role": "system", "content": "Answer with the intent label only."},
            {"role": "user", "content": text},
        ]
        for texts in TOPICS.values()
        for text in texts
    ]
    loaded = engines.load(model, adapter, engine=engine, **options)
    try:
        return loaded.scored_answers(conversations, NEW_TOKENS, batch_tokens=8192)
    finally:
        loaded.close()


def test_greedy_answers_are_the_same_on_transformers_and_vllm(tmp_path: Path) -> None:
    # Given the tiny model and an adapter that changes its answers
    model = str(make_tiny_model(tmp_path / "model", sample_texts() + LABELS, SHAPE))
    adapter = random_adapter(model, tmp_path / "adapter")
    base = answered(model, None, engines.TRANSFORMERS, dtype=torch.float32)
    tuned = answered(model, adapter, engines.TRANSFORMERS, dtype=torch.float32)
    assert [text for text, _ in base] != [text for text, _ in tuned]

    # When vLLM answers the same conversations with the adapter loaded as an adapter
    on_vllm = answered(
        model, adapter, engines.VLLM, dtype="float32", gpu_memory_utilization=0.3, enforce_eager=True
    )

    # Then every answer is the same, and so (to rounding) is its mean token log-probability
    assert [text for text, _ in on_vllm] == [text for text, _ in tuned]
    assert [mean for _, mean in on_vllm] == pytest.approx([mean for _, mean in tuned], abs=1e-3)
