"""Can this worker run the run as asked? Checked on the worker before anything is loaded: the
methods the host must support (QLoRA needs a CUDA GPU and bitsandbytes; data parallel needs as
many GPUs), and whether the estimated memory (training/memory.py) fits the GPUs' free memory.
Each refusal is a PreflightError that says what to change. The decisions are pure functions of
what the host has; `host_scale` and `memory_report`'s caller read the host.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from training import memory
from training.preflight import PreflightError

QLORA_PACKAGE = "pip install 'finch[gpu]'"


@dataclass(frozen=True)
class Scale:
    """How the run trains on this worker: recorded in its environment."""

    processes: int  # one a GPU; above 1 started by torchrun and trained with DDP
    device: str  # "cuda" or "cpu"
    backend: str | None  # torch.distributed's: nccl on GPUs, gloo on the CPU; None for one process

    @property
    def launcher(self) -> str | None:
        return "torchrun" if self.processes > 1 else None

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "launcher": self.launcher}


def scale_for(
    settings: dict[str, Any],
    *,
    gpu_count: int,
    cuda_devices: int,
    cpu_data_parallel: bool,
    bitsandbytes: bool,
    bf16: bool = True,
) -> Scale:
    """The processes and device for a run's settings on a host with `cuda_devices` GPUs (`bf16`:
    they compute in bfloat16) of which the worker may use `gpu_count` (FINCH_GPU_COUNT)."""
    quantization = settings.get("quantization", "none")
    _check_quantization(quantization, cuda=cuda_devices > 0, bitsandbytes=bitsandbytes, bf16=bf16)
    processes = _processes(settings.get("gpus", "all"), gpu_count)
    if cuda_devices:
        if processes > cuda_devices:
            raise PreflightError(
                f"The run would train on {processes} GPUs (FINCH_GPU_COUNT={gpu_count}) but this host "
                f"has {cuda_devices}. Set FINCH_GPU_COUNT to at most {cuda_devices} on this worker."
            )
        return Scale(processes, "cuda", "nccl" if processes > 1 else None)
    if processes > 1 and not cpu_data_parallel:
        raise PreflightError(
            f"The run would train on {processes} GPUs but this worker has no CUDA GPU. Run it on a GPU "
            f'worker, or give it "gpus": 1 to train on this CPU.'
        )
    return Scale(processes, "cpu", "gloo" if processes > 1 else None)


def _processes(gpus: int | str, gpu_count: int) -> int:
    if gpus == "all":
        return gpu_count
    assert isinstance(gpus, int)  # validated at launch
    if gpus > gpu_count:
        raise PreflightError(
            f"The run asks for {gpus} GPUs but this worker may use {gpu_count} (FINCH_GPU_COUNT). "
            f'Ask for at most {gpu_count}, or "all".'
        )
    return gpus


def _check_quantization(quantization: str, *, cuda: bool, bitsandbytes: bool, bf16: bool) -> None:
    if quantization != "nf4":
        return
    if not cuda:
        raise PreflightError(
            'QLoRA (quantization "nf4") needs a CUDA GPU: bitsandbytes\' 4-bit weights do not train on '
            'the CPU, and this worker has no GPU. Launch it with quantization "none", or on a GPU worker.'
        )
    if not bitsandbytes:
        raise PreflightError(
            'QLoRA (quantization "nf4") needs bitsandbytes, which is not installed on this GPU worker: '
            f'{QLORA_PACKAGE} (or launch with quantization "none").'
        )
    if not bf16:
        raise PreflightError(
            'QLoRA (quantization "nf4") computes and trains its adapters in bfloat16, which this GPU lacks '
            '(it needs compute capability 8.0 or newer). Launch it with quantization "none", or on a newer GPU.'
        )


def memory_report(
    config: dict[str, Any],
    *,
    settings: dict[str, Any],
    lora: dict[str, Any],
    train_report: dict[str, Any],
    scale: Scale,
    dtype_bytes: int,
    free_bytes: list[int] | None,
) -> dict[str, Any]:
    """The estimate for one GPU's share of the largest batch the run can make, against the
    GPUs' free memory (None on the CPU: recorded, never refused)."""
    tokens = _tokens_per_process(settings, train_report, scale.processes)
    share = train_report["supervised_tokens"] / max(train_report["tokens"], 1)
    method = memory.Method(
        lora_r=lora["r"],
        target_modules=lora["target_modules"],
        lora_dropout=lora["dropout"],
        quantization=settings.get("quantization", "none"),
        gradient_checkpointing=bool(settings.get("gradient_checkpointing", False)),
        dtype_bytes=dtype_bytes,
    )
    free = min(free_bytes) if free_bytes else None
    try:
        shape = memory.ModelShape.of(config)
    except memory.UnknownShape as exc:  # no estimate: the run goes on, as it did before estimates
        return {"estimate": None, "note": str(exc), "device": scale.device, "free_bytes": free, "fits": None}
    estimate = memory.estimate(shape, method, tokens=tokens, supervised_tokens=math.ceil(tokens * share))
    return {
        "estimate": estimate.as_dict(),
        "parameters": shape.params,
        "tokens_per_process": tokens,
        "device": scale.device,
        "free_bytes": free,
        "fits": None if free is None else estimate.total <= free,
    }


def _tokens_per_process(settings: dict[str, Any], train_report: dict[str, Any], processes: int) -> int:
    """Padded tokens of one process's share of the largest batch: the budget, or the batch size
    times the longest example that fits (its share split over the processes)."""
    if settings.get("batching") == "token_budget":
        return math.ceil(settings["tokens_per_batch"] / processes)
    longest = min(train_report["longest_tokens"], settings["max_seq_length"]) or settings["max_seq_length"]
    return math.ceil(settings["batch_size"] / processes) * longest


def memory_check(report: dict[str, Any], settings: dict[str, Any]) -> None:
    """PreflightError when the estimate exceeds the GPU's free memory, naming both and what to change."""
    if report["fits"] is not False:
        return
    parts = report["estimate"]
    detail = ", ".join(
        f"{name} {memory.gib(parts[name])}" for name in ("weights", "adapter", "activations", "logits")
    )
    raise PreflightError(
        f"The run needs about {memory.gib(parts['total'])} of GPU memory ({detail}; an estimate from the "
        f"model's config.json) but the GPU has {memory.gib(report['free_bytes'])} free. "
        f"{_advice(settings, parts, report['free_bytes'])}"
    )


def _advice(settings: dict[str, Any], parts: dict[str, int], free: int) -> str:
    """What would shrink the estimate: the batch's share only while the weights fit at all (data
    parallelism copies the whole model to every GPU)."""
    quantize = 'use quantization "nf4" (QLoRA)'
    if parts["weights"] + parts["adapter"] > free:
        if settings.get("quantization", "none") == "none":
            return f"The weights alone do not fit: {quantize}, or train on a GPU with more memory."
        return "The weights alone do not fit even in 4 bits: train on a GPU with more memory."
    advice = []
    if not settings.get("gradient_checkpointing"):
        advice.append("turn on gradient_checkpointing")
    size = "tokens_per_batch" if settings.get("batching") == "token_budget" else "batch_size"
    advice.append(
        f"lower {size} or max_seq_length (raise gradient_accumulation_steps to keep the step's size)"
    )
    advice.append("train on more GPUs (FINCH_GPU_COUNT), each taking a share of the batch")
    if settings.get("quantization", "none") == "none":
        advice.append(quantize)
    return f"To fit: {'; '.join(advice)}."


def scale_record(
    hyperparameters: dict[str, Any], environment: dict[str, Any], preflight: dict[str, Any]
) -> dict[str, Any]:
    """What a run asked for and what its worker used, from the run's record (the page and the API
    show it): methods, processes and the memory estimate; None where the run has not got there."""
    used = environment.get("training") or {}
    estimated = preflight.get("memory") or {}
    return {
        "gradient_checkpointing": bool(hyperparameters.get("gradient_checkpointing", False)),
        "quantization": hyperparameters.get("quantization", "none"),
        "batching": hyperparameters.get("batching", "fixed"),
        "tokens_per_batch": hyperparameters.get("tokens_per_batch"),
        "gpus": hyperparameters.get("gpus", "all"),
        "processes": used.get("processes"),
        "device": used.get("device"),
        "launcher": used.get("launcher"),
        "backend": used.get("backend"),
        "memory_estimate_bytes": (estimated.get("estimate") or {}).get("total"),
        "gpu_free_bytes": estimated.get("free_bytes"),
    }
