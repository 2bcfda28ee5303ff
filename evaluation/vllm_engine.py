"""The `vllm` engine: greedy answers from vLLM's offline `LLM`, with the LoRA adapter loaded as an
adapter (`enable_lora`, a `LoRARequest` on every call; the base weights are never merged).

vLLM is handed token ids (`TokensPrompt`), the very ids the transformers engine gets
(`generate.prompt_ids`: Finch's rendering and tokenization), and returns token ids that Finch
reads back itself (`generate.reply`, `generate.mean_logprob`), so the text of an answer does not
depend on vLLM's detokenizer. Sampling is plain greedy (`temperature=0`, no penalties: given
sampling parameters keep vLLM from taking defaults from the model's generation config), to
`max_tokens` or an end token: the tokenizer's and the generation config's, as
`generate.end_token_ids` makes them the transformers engine's. vLLM batches by its own token
budget (its scheduler's `max_num_batched_tokens`); Finch hands it `CALL` prompts at a time only
to report progress.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from evaluation import generate
from evaluation.engines import VLLM, adapter_rank, vllm_lora_rank
from training import modeling
from training.prompts import Messages

CALL = 512  # prompts a generate call: progress is reported between calls
ADAPTER_NAME = "finch-adapter"


class VllmEngine:
    name = VLLM

    def __init__(self, base_model: str, adapter: Path | None, **options: Any) -> None:
        """Load the base model into vLLM (with room for `adapter`); `options` go to `vllm.LLM`
        and override Finch's (dtype, gpu_memory_utilization, enforce_eager...)."""
        # A Celery prefork child is a daemon process, which may not start vLLM's engine process:
        # the engine runs in this process unless the operator says otherwise.
        os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
        import vllm
        from vllm.lora.request import LoRARequest

        self._vllm = vllm
        self.tokenizer = modeling.tokenizer_load(base_model)
        self.adapter = LoRARequest(ADAPTER_NAME, 1, str(adapter)) if adapter is not None else None
        self.llm: Any = vllm.LLM(**(_llm_arguments(base_model, adapter) | options))

    def scored_answers(
        self,
        conversations: list[Messages],
        new_tokens: int,
        progress: Callable[[int], None] = lambda done: None,
        *,
        batch_tokens: int,  # the transformers engine's budget; vLLM schedules by its own
    ) -> list[tuple[str, float]]:
        """Each answer with the mean log-probability of its tokens (up to its end token), in order."""
        prompts = generate.prompt_ids(self.tokenizer, conversations)
        sampling = self._vllm.SamplingParams(
            temperature=0.0, max_tokens=new_tokens, logprobs=0, detokenize=False
        )
        results: list[tuple[str, float]] = []
        for start in range(0, len(prompts), CALL):
            chunk = prompts[start : start + CALL]
            outputs = self.llm.generate(
                [self._vllm.TokensPrompt(prompt_token_ids=ids) for ids in chunk],
                sampling,
                use_tqdm=False,
                lora_request=self.adapter,
            )
            results += [self._read(ids, output) for ids, output in zip(chunk, outputs, strict=True)]
            progress(len(results))
        return results

    def _read(self, prompt: list[int], output: Any) -> tuple[str, float]:
        if list(output.prompt_token_ids) != prompt:  # LLM.generate answers in the order it was asked
            raise RuntimeError("vLLM returned its answers out of the order of their prompts.")
        completion = output.outputs[0]
        ids = list(completion.token_ids)
        # logprobs=0: each position holds the chosen token's log-probability (and no others)
        logprobs = [
            float(position[token].logprob) for token, position in zip(ids, completion.logprobs, strict=True)
        ]
        # vLLM stopped at the first end token; a pad token before it ends the mean as it does there
        stops = {self.tokenizer.eos_token_id, self.tokenizer.pad_token_id} - {None}
        return generate.reply(self.tokenizer, ids), generate.mean_logprob(ids, logprobs, stops)

    def close(self) -> None:
        """Give the GPU memory back (the worker goes on to other runs)."""
        self.llm = None
        gc.collect()
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()


def _llm_arguments(base_model: str, adapter: Path | None) -> dict[str, Any]:
    """vLLM's arguments: the local model folder (nothing is downloaded), the transformers
    engine's precision, and LoRA room for the adapter's rank."""
    import torch

    on = torch.device("cuda")
    precision = modeling.compute_dtype(on) or torch.float32
    arguments: dict[str, Any] = {
        "model": str(modeling.model_folder(base_model)),
        "dtype": str(precision).removeprefix("torch."),
    }
    if adapter is not None:
        arguments |= {
            "enable_lora": True,
            "max_lora_rank": vllm_lora_rank(adapter_rank(adapter)),
            "max_loras": 1,
        }
    return arguments
