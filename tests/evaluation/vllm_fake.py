"""A stand-in for the `vllm` package, put in sys.modules by tests that check Finch's side of the
call to vLLM: what Finch passes (the LLM's arguments, prompt token ids, sampling parameters, the
LoRA request) and how it reads the outputs back. It runs no model and says nothing about vLLM
itself: tests/evaluation/test_engines_gpu.py compares the real vLLM with transformers where both
exist."""

from __future__ import annotations

import importlib.machinery
import sys
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest

# What the fake answers a prompt: its generated token ids and each one's log-probability.
Answer = tuple[list[int], list[float]]


@dataclass
class LoRARequest:
    lora_name: str
    lora_int_id: int
    lora_path: str


class SamplingParams:
    def __init__(self, **kwargs: Any) -> None:
        self.kwargs = kwargs


def TokensPrompt(**kwargs: Any) -> dict[str, Any]:  # noqa: N802  # vLLM's TypedDict is called like this
    return dict(kwargs)


@dataclass
class Calls:
    """What Finch asked of the fake: one entry per LLM made, and per generate call."""

    llms: list[dict[str, Any]] = field(default_factory=list)
    generates: list[dict[str, Any]] = field(default_factory=list)


def install(monkeypatch: pytest.MonkeyPatch, answer: Callable[[list[int]], Answer]) -> Calls:
    """Put the fake `vllm` (and `vllm.lora.request`) in sys.modules; `answer` says what each
    prompt (its token ids) is answered. Outputs come back in the order of the prompts, as
    `LLM.generate` returns them."""
    calls = Calls()

    class LLM:
        def __init__(self, **kwargs: Any) -> None:
            calls.llms.append(kwargs)

        def generate(self, prompts: list[dict[str, Any]], sampling_params: Any, **kwargs: Any) -> list[Any]:
            calls.generates.append({"prompts": prompts, "sampling_params": sampling_params, **kwargs})
            return [
                _output(prompt["prompt_token_ids"], *answer(prompt["prompt_token_ids"])) for prompt in prompts
            ]

    vllm = _module("vllm", LLM=LLM, SamplingParams=SamplingParams, TokensPrompt=TokensPrompt)
    lora = _module("vllm.lora")
    request = _module("vllm.lora.request", LoRARequest=LoRARequest)
    for module in (vllm, lora, request):
        monkeypatch.setitem(sys.modules, module.__name__, module)
    return calls


def _module(name: str, **attributes: Any) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__spec__ = importlib.machinery.ModuleSpec(name, loader=None)  # find_spec finds it
    for key, value in attributes.items():
        setattr(module, key, value)
    return module


def _output(prompt: list[int], ids: list[int], logprobs: list[float]) -> SimpleNamespace:
    """A RequestOutput as vLLM shapes it: with logprobs=0, each position maps the chosen token to
    its Logprob."""
    positions = [{token: SimpleNamespace(logprob=value)} for token, value in zip(ids, logprobs, strict=True)]
    completion = SimpleNamespace(token_ids=ids, logprobs=positions, text="")
    return SimpleNamespace(prompt_token_ids=list(prompt), outputs=[completion])
