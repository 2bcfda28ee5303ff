"""Which engine generates the answers of eval and suggestion runs, and the one way both are called.

- `transformers` (evaluation.generate): the base model, with the adapter through peft, greedy in
  batches bounded by `FINCH_EVAL_BATCH_TOKENS`. Runs anywhere, CPU included.
- `vllm` (evaluation.vllm_engine): vLLM's offline `LLM` with the LoRA adapter loaded as an
  adapter (never merged), handed the very token ids the transformers engine is given. Needs the
  optional `vllm` extra and a CUDA GPU.

`FINCH_GENERATION_ENGINE` picks one: `auto` (vLLM where it is installed, a CUDA GPU is there and
it takes the adapter's rank, else transformers), `transformers`, or `vllm` (a run fails saying
why when this host cannot). Both read answers back by the same rules (evaluation.generate:
`prompt_ids`, `end_token_ids`, `reply`, `mean_logprob`), so greedy answers are the same.

Scoring every label of a classification project (`label_probabilities`, suggestion runs) needs
the model's logits over a prompt's continuations and stays on transformers whatever the setting.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from training.prompts import Messages

AUTO, TRANSFORMERS, VLLM = "auto", "transformers", "vllm"
SETTINGS = (AUTO, TRANSFORMERS, VLLM)
# The LoRA ranks vLLM is built for (LoRAConfig.max_lora_rank); an adapter's rank is rounded up.
VLLM_LORA_RANKS = (8, 16, 32, 64, 128, 256, 320, 512)
INSTALL = "pip install 'finch[vllm]' on the GPU worker"


class EngineUnavailable(Exception):
    """The engine the setting asks for cannot run on this host; the message says why and what to do."""


class Engine(Protocol):
    name: str
    tokenizer: Any

    def scored_answers(
        self,
        conversations: list[Messages],
        new_tokens: int,
        progress: Callable[[int], None] = ...,
        *,
        batch_tokens: int,
    ) -> list[tuple[str, float]]: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class Choice:
    engine: str  # TRANSFORMERS or VLLM
    reason: str  # why, for the prompt card


def choose(setting: str, adapter: Path | None = None) -> Choice:
    """The engine `setting` (FINCH_GENERATION_ENGINE) gives on this host for base + `adapter`;
    EngineUnavailable when it asks for vLLM and this host cannot run it."""
    if setting not in SETTINGS:
        raise EngineUnavailable(f"FINCH_GENERATION_ENGINE is {setting!r}: give one of {', '.join(SETTINGS)}.")
    if setting == TRANSFORMERS:
        return Choice(TRANSFORMERS, "FINCH_GENERATION_ENGINE=transformers")
    missing = vllm_missing(adapter)
    if missing is None:
        return Choice(VLLM, f"FINCH_GENERATION_ENGINE={setting}")
    if setting == AUTO:
        return Choice(TRANSFORMERS, f"FINCH_GENERATION_ENGINE=auto: {missing}")
    raise EngineUnavailable(
        f"FINCH_GENERATION_ENGINE=vllm, but {missing}. Set FINCH_GENERATION_ENGINE=auto (or "
        "transformers) to evaluate with transformers instead."
    )


def vllm_missing(adapter: Path | None = None) -> str | None:
    """Why vLLM cannot generate here for base + `adapter` (None: it can)."""
    if importlib.util.find_spec("vllm") is None:
        return f"vLLM is not installed on this host ({INSTALL})"
    import torch

    if not torch.cuda.is_available():
        return "this host has no CUDA GPU, which vLLM needs"
    if adapter is not None and adapter_rank(adapter) > VLLM_LORA_RANKS[-1]:
        return (
            f"the adapter's LoRA rank {adapter_rank(adapter)} is above the {VLLM_LORA_RANKS[-1]} vLLM takes"
        )
    return None


def adapter_rank(adapter: Path) -> int:
    """The largest LoRA rank of a saved peft adapter (its `r`, or a larger per-module one)."""
    config = json.loads((adapter / "adapter_config.json").read_text(encoding="utf-8"))
    return max([int(config["r"]), *(int(rank) for rank in (config.get("rank_pattern") or {}).values())])


def vllm_lora_rank(rank: int) -> int:
    """The smallest `max_lora_rank` vLLM takes that holds an adapter of `rank`."""
    return next(allowed for allowed in VLLM_LORA_RANKS if allowed >= rank)


def load(base_model: str, adapter: Path | None, *, engine: str, **options: Any) -> Engine:
    """The chosen engine with base + `adapter` loaded (`options`: the engine's own, for tests)."""
    if engine == VLLM:
        from evaluation.vllm_engine import VllmEngine

        return VllmEngine(base_model, adapter, **options)
    from evaluation import generate

    model, tokenizer = generate.load(base_model, adapter, **options)
    return TransformersEngine(model, tokenizer)


class TransformersEngine:
    """Today's code (evaluation.generate) behind the engine's calls."""

    name = TRANSFORMERS

    def __init__(self, model: Any, tokenizer: Any) -> None:
        self.model, self.tokenizer = model, tokenizer

    def scored_answers(
        self,
        conversations: list[Messages],
        new_tokens: int,
        progress: Callable[[int], None] = lambda done: None,
        *,
        batch_tokens: int,
    ) -> list[tuple[str, float]]:
        from evaluation import generate

        return generate.scored_answers(
            self.model, self.tokenizer, conversations, new_tokens, progress, batch_tokens=batch_tokens
        )

    def label_probabilities(
        self,
        conversations: list[Messages],
        labels: list[str],
        progress: Callable[[int], None] = lambda done: None,
        *,
        batch_tokens: int,
    ) -> np.ndarray:
        from evaluation import generate

        return generate.label_probabilities(
            self.model, self.tokenizer, conversations, labels, progress, batch_tokens=batch_tokens
        )

    def close(self) -> None:
        self.model = None


def answers(
    engine: Engine,
    conversations: list[Messages],
    new_tokens: int,
    progress: Callable[[int], None] = lambda done: None,
    *,
    batch_tokens: int,
) -> list[str]:
    """The engine's answer to each conversation, in order."""
    scored = engine.scored_answers(conversations, new_tokens, progress, batch_tokens=batch_tokens)
    return [text for text, _ in scored]
