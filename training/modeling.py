"""Base models, LoRA adapters and the host they run on (torch, transformers, peft; no Django).

Nothing is downloaded: `base_model` is a local folder, or an id already in the host's Hugging
Face cache (HF_HUB_OFFLINE is set before transformers loads).
"""

from __future__ import annotations

import hashlib
import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

import torch

from training.preflight import PreflightError

PACKAGES = ("torch", "transformers", "peft", "tokenizers", "safetensors", "finch")
MERGED_SHARD_SIZE = "5GB"  # the Hugging Face Hub's usual shard: files a download can retry one by one


def device() -> torch.device:
    return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")


def compute_dtype(on: torch.device) -> torch.dtype | None:
    """bfloat16 autocast on GPUs that have it; full precision on CPU, where small models train
    fastest and exactly in fp32."""
    if on.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return None


def config_sha256(base_model: str) -> str:
    """Of the model's config.json: which architecture and size a run was trained on."""
    config = _resolve(base_model) / "config.json"
    return hashlib.sha256(config.read_bytes()).hexdigest()


def _resolve(base_model: str) -> Path:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    path = Path(base_model).expanduser()
    if path.is_dir():
        if not (path / "config.json").exists():
            raise PreflightError(f"{base_model} is a folder without config.json: not a transformers model.")
        return path
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(base_model, local_files_only=True))
    except Exception as exc:
        raise PreflightError(
            f"No model at {base_model!r} on this host: give a local folder (see `manage.py make_tiny_model`) "
            "or an id already in the Hugging Face cache; nothing is downloaded."
        ) from exc


def tokenizer_load(base_model: str) -> Any:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(_resolve(base_model)))
    if tokenizer.pad_token_id is None and tokenizer.eos_token_id is not None:
        tokenizer.pad_token = tokenizer.eos_token  # pads are masked out; any id will do
    return tokenizer


def base_load(base_model: str, on: torch.device) -> Any:
    from transformers import AutoModelForCausalLM

    dtype = compute_dtype(on) or torch.float32
    if on.type == "cuda":  # what stays fp32 (the LoRA weights, the loss) may use TF32 matmuls
        torch.backends.cuda.matmul.allow_tf32 = True
    model = AutoModelForCausalLM.from_pretrained(
        str(_resolve(base_model)), dtype=dtype, attn_implementation="sdpa"
    )
    return model.to(on)  # type: ignore[arg-type]  # transformers' stubs miss to(device)


def lora_attach(model: Any, lora: dict[str, Any]) -> Any:
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(
        r=lora["r"],
        lora_alpha=lora["alpha"],
        lora_dropout=lora["dropout"],
        target_modules=lora["target_modules"],
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, config)


def adapter_changes_outputs(base_model: str, adapter: Path, input_ids: list[list[int]]) -> float:
    """Largest logit difference between the base model and base + the saved adapter, reloaded
    from disk with PeftModel.from_pretrained: 0 means the adapter does nothing."""
    from peft import PeftModel

    on = device()
    model = base_load(base_model, on).eval()
    batch = [torch.tensor([ids], device=on) for ids in input_ids]
    with torch.no_grad():
        before = [model(input_ids=ids).logits.float() for ids in batch]
        tuned = PeftModel.from_pretrained(model, str(adapter)).eval()
        after = [tuned(input_ids=ids).logits.float() for ids in batch]
    return max(float((a - b).abs().max()) for a, b in zip(after, before, strict=True))


def merged_save(base_model: str, adapter: Path, out: Path) -> str:
    """Fold the adapter into the base model's weights (peft's `merge_and_unload`) and save the
    result with the base's tokenizer to `out`: a plain transformers model in safetensors, which
    any server loads without peft. Returns the dtype it was saved in (the base's own).

    On the CPU, in the dtype the base was saved in: a merge needs memory rather than a GPU (the
    worker's GPU may not hold the whole model), and an fp32 base merges exactly."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = _resolve(base_model)
    base = AutoModelForCausalLM.from_pretrained(str(path), dtype="auto")
    merged = PeftModel.from_pretrained(base, str(adapter)).merge_and_unload()
    merged.save_pretrained(str(out), max_shard_size=MERGED_SHARD_SIZE)
    AutoTokenizer.from_pretrained(str(path)).save_pretrained(str(out))
    return str(merged.dtype).removeprefix("torch.")


def environment() -> dict[str, Any]:
    """What a reproduction needs to know about this host: package versions, code, device."""
    packages: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            packages[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            packages[name] = None
    on = device()
    return {
        "python": platform.python_version(),
        "packages": packages,
        "git_commit": git_commit(),
        "device": torch.cuda.get_device_name(0) if on.type == "cuda" else f"cpu ({platform.machine()})",
        "torch_threads": torch.get_num_threads(),
    }


def git_commit() -> str | None:
    """FINCH_GIT_COMMIT (set in images), else the checkout's HEAD, else unknown."""
    if os.environ.get("FINCH_GIT_COMMIT"):
        return os.environ["FINCH_GIT_COMMIT"]
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() or None
