"""Base models, LoRA adapters and the host they run on (torch, transformers, peft; no Django).

Nothing is downloaded: `base_model` is a local folder, or an id already in the host's Hugging
Face cache (HF_HUB_OFFLINE is set before transformers loads).
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

import torch

from training.model_files import on_this_host
from training.preflight import PreflightError

PACKAGES = ("torch", "transformers", "peft", "tokenizers", "safetensors", "bitsandbytes", "vllm", "finch")
MERGED_SHARD_SIZE = "5GB"  # the Hugging Face Hub's usual shard: files a download can retry one by one


def device() -> torch.device:
    return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")


def compute_dtype(on: torch.device) -> torch.dtype | None:
    """bfloat16 autocast on GPUs that have it; full precision on CPU, where small models train
    fastest and exactly in fp32."""
    if on.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return None


def cuda_devices() -> int:
    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def gpu_free_bytes(count: int) -> list[int] | None:
    """Free memory of GPUs 0 .. count-1 (torch.cuda.mem_get_info); None on a host without CUDA."""
    if not torch.cuda.is_available():
        return None
    return [torch.cuda.mem_get_info(index)[0] for index in range(min(count, torch.cuda.device_count()))]


def bitsandbytes_installed() -> bool:
    from importlib.util import find_spec

    return find_spec("bitsandbytes") is not None


def config_load(base_model: str) -> dict[str, Any]:
    """The model's config.json: its sizes, read without loading a weight."""
    loaded = json.loads((model_folder(base_model) / "config.json").read_text(encoding="utf-8"))
    return loaded if isinstance(loaded, dict) else {}


def config_sha256(base_model: str) -> str:
    """Of the model's config.json: which architecture and size a run was trained on."""
    config = model_folder(base_model) / "config.json"
    return hashlib.sha256(config.read_bytes()).hexdigest()


def model_folder(base_model: str) -> Path:
    """The folder of `base_model`: a local folder, or the snapshot of an id in the offline cache."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    path = on_this_host(base_model)
    if path is not None and path.is_dir():
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

    tokenizer = AutoTokenizer.from_pretrained(str(model_folder(base_model)))
    if tokenizer.pad_token_id is None and tokenizer.eos_token_id is not None:
        tokenizer.pad_token = tokenizer.eos_token  # pads are masked out; any id will do
    return tokenizer


def base_load(
    base_model: str, on: torch.device, dtype: torch.dtype | None = None, *, quantization: str = "none"
) -> Any:
    """The base model on `on`, in `dtype` (default: the device's compute precision: bf16 on GPUs
    that have it, fp32 on CPU); with quantization="nf4" (QLoRA) its linear layers in 4-bit NF4 on
    the GPU (bitsandbytes)."""
    from transformers import AutoModelForCausalLM

    dtype = dtype or compute_dtype(on) or torch.float32
    if on.type == "cuda":  # what stays fp32 (the LoRA weights, the loss) may use TF32 matmuls
        torch.backends.cuda.matmul.allow_tf32 = True
    path = str(model_folder(base_model))
    if quantization == "nf4":
        return AutoModelForCausalLM.from_pretrained(
            path,
            quantization_config=nf4_config(),
            dtype=torch.bfloat16,
            attn_implementation="sdpa",
            device_map={"": on.index or 0},  # a 4-bit model is placed as it loads; it cannot be moved
        )
    model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype, attn_implementation="sdpa")
    return model.to(on)  # type: ignore[arg-type]  # transformers' stubs miss to(device)


def nf4_config() -> Any:
    """QLoRA's quantization (Dettmers et al. 2023): 4-bit NormalFloat with double quantization of
    the scales, computing in bf16."""
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=torch.bfloat16,
    )


def lora_attach(
    model: Any, lora: dict[str, Any], *, gradient_checkpointing: bool = False, quantization: str = "none"
) -> Any:
    """The model with LoRA adapters, the base frozen; with gradient checkpointing each decoder layer
    keeps only its input and recomputes the rest in backward (non-reentrant: frozen embeddings
    need no input gradient hook, and it works under DDP)."""
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training

    checkpointing = {"use_reentrant": False}
    if quantization == "nf4":  # norms to fp32, base frozen, checkpointing when asked
        model = prepare_model_for_kbit_training(
            model,
            use_gradient_checkpointing=gradient_checkpointing,
            gradient_checkpointing_kwargs=checkpointing,
        )
    elif gradient_checkpointing:
        # transformers 5 renamed it; 4.x has only the old name
        enable = (
            getattr(model, "activation_checkpointing_enable", None) or model.gradient_checkpointing_enable
        )
        enable(checkpointing)
    if gradient_checkpointing:
        model.config.use_cache = False  # a cache is useless in training and clashes with recomputation
    config = LoraConfig(
        r=lora["r"],
        lora_alpha=lora["alpha"],
        lora_dropout=lora["dropout"],
        target_modules=lora["target_modules"],
        task_type="CAUSAL_LM",
    )
    try:
        model = get_peft_model(model, config)
    except ValueError as exc:  # peft: "Target modules {...} not found in the base model ..."
        if "target modules" not in str(exc).lower():
            raise
        raise PreflightError(f"lora.target_modules: {exc}") from exc
    if quantization == "nf4":  # QLoRA trains its adapters in bf16, as the paper's reference code does
        for parameter in model.parameters():
            if parameter.requires_grad:
                parameter.data = parameter.data.to(torch.bfloat16)
    return model


def model_for_training(
    base_model: str, on: torch.device, lora: dict[str, Any], settings: dict[str, Any]
) -> Any:
    """The base model with LoRA attached, as the run's hyperparameters ask (quantization, gradient
    checkpointing; runs recorded before those settings existed have neither)."""
    quantization = settings.get("quantization", "none")
    model = base_load(base_model, on, quantization=quantization)
    checkpointing = bool(settings.get("gradient_checkpointing", False))
    torch.manual_seed(settings.get("seed", 0))  # the adapter's initial weights follow the run's seed
    return lora_attach(model, lora, gradient_checkpointing=checkpointing, quantization=quantization)


def adapter_changes_outputs(
    base_model: str, adapter: Path, input_ids: list[list[int]], *, quantization: str = "none"
) -> float:
    """Largest logit difference between the base model and base + the saved adapter, reloaded
    from disk with PeftModel.from_pretrained: 0 means the adapter does nothing."""
    from peft import PeftModel

    on = device()
    model = base_load(base_model, on, quantization=quantization).eval()
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

    path = model_folder(base_model)
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
