"""Measure the peak memory of one LoRA training step on the CPU, in a process of its own
(`python -m tests.training.peak_memory '[{"hidden": 128, ...}]'` prints a JSON list).

The CPU has no allocator statistics like CUDA's max_memory_allocated, so the step is measured by
the process's resident size: glibc is told to serve every allocation over 64 KiB with its own
mmap (so freed tensors leave the resident size at once), the peak is reset through
/proc/self/clear_refs after the model and batch exist, and the step's peak is VmHWM minus the
resident size before it. The weights are counted from the parameters themselves.
"""

from __future__ import annotations

import ctypes
import json
import sys
from pathlib import Path
from typing import Any

M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 64 * 1024


def _status(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def _reset_peak() -> None:
    Path("/proc/self/clear_refs").write_text("5")


def measure(spec: dict[str, Any]) -> dict[str, int]:
    ctypes.CDLL("libc.so.6").mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from training import modeling
    from training.loop import summed_loss

    torch.set_num_threads(1)
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=spec["vocab"],
        hidden_size=spec["hidden"],
        intermediate_size=spec["intermediate"],
        num_hidden_layers=spec["layers"],
        num_attention_heads=spec["heads"],
        num_key_value_heads=spec["heads"],
        tie_word_embeddings=True,
    )
    config._attn_implementation = "sdpa"
    model = LlamaForCausalLM(config)
    model = modeling.lora_attach(
        model,
        {"r": spec["r"], "alpha": 2 * spec["r"], "dropout": spec["dropout"], "target_modules": "all-linear"},
        gradient_checkpointing=spec["gradient_checkpointing"],
    )
    model.train()
    trainable = [p for p in model.parameters() if p.requires_grad]

    def batch(rows: int, width: int, answer: int) -> dict[str, torch.Tensor]:
        ids = torch.randint(0, spec["vocab"], (rows, width))
        labels = torch.full_like(ids, -100)
        labels[:, -answer:] = ids[:, -answer:]
        return {"input_ids": ids, "labels": labels, "attention_mask": torch.ones_like(ids)}

    def step(optimizer: torch.optim.Optimizer, data: dict[str, torch.Tensor]) -> None:
        summed_loss(model, data).backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    # A small step first: kernels, thread pools and lazily loaded code are in place before the
    # measured one; its optimizer (and so its moments) is dropped.
    step(torch.optim.AdamW(trainable), batch(1, 8, 2))
    data = batch(spec["batch"], spec["seq"], spec["answer"])
    optimizer = torch.optim.AdamW(trainable)
    before = _status("VmRSS")
    _reset_peak()
    step(optimizer, data)
    peak = _status("VmHWM") - before
    weights = sum(p.numel() * p.element_size() for p in model.parameters() if not p.requires_grad)
    return {"weights": weights, "step_peak": peak, "total": weights + peak}


if __name__ == "__main__":
    # A list of specs is measured one after the other in this process (imports paid once).
    print(json.dumps([measure(spec) for spec in json.loads(sys.argv[1])]))
