"""Which training method fits which model on which GPU: training/memory.py's estimates for
well-known model sizes, printed as the Markdown table of docs/training.md ("Memory and scale").

`python -m bench.memory_table` (no torch, no weights: the shapes are those of the models'
config.json). Each row: the estimated peak of one GPU for a step of 8 sequences of 1024 tokens
(every token supervised, the worst case for the logits) with Finch's LoRA defaults (r=16 on every
linear layer, dropout 0.05) in bf16, by method, and each method's share of plain LoRA's figure.
"""

from __future__ import annotations

from training.memory import GIB, Method, ModelShape, estimate

SEQ, BATCH = 1024, 8
GPUS_GB = (24, 48, 80)  # common cards: 24 GB (L4, RTX 4090), 48 GB (L40S, A6000), 80 GB (A100, H100)
MODELS: dict[str, dict[str, int | bool]] = {
    # name: the sizes of its config.json
    "0.135B (SmolLM-135M)": {
        "hidden_size": 576,
        "intermediate_size": 1536,
        "num_hidden_layers": 30,
        "num_attention_heads": 9,
        "num_key_value_heads": 3,
        "vocab_size": 49152,
        "tie_word_embeddings": True,
    },
    "0.5B (Qwen2-0.5B)": {
        "hidden_size": 896,
        "intermediate_size": 4864,
        "num_hidden_layers": 24,
        "num_attention_heads": 14,
        "num_key_value_heads": 2,
        "vocab_size": 151936,
        "tie_word_embeddings": True,
    },
    "1.5B (Qwen2-1.5B)": {
        "hidden_size": 1536,
        "intermediate_size": 8960,
        "num_hidden_layers": 28,
        "num_attention_heads": 12,
        "num_key_value_heads": 2,
        "vocab_size": 151936,
        "tie_word_embeddings": True,
    },
    "7B (Llama-2-7B)": {
        "hidden_size": 4096,
        "intermediate_size": 11008,
        "num_hidden_layers": 32,
        "num_attention_heads": 32,
        "num_key_value_heads": 32,
        "vocab_size": 32000,
        "tie_word_embeddings": False,
    },
    "70B (Llama-2-70B)": {
        "hidden_size": 8192,
        "intermediate_size": 28672,
        "num_hidden_layers": 80,
        "num_attention_heads": 64,
        "num_key_value_heads": 8,
        "vocab_size": 32000,
        "tie_word_embeddings": False,
    },
}
METHODS = {
    "LoRA": Method(lora_r=16, lora_dropout=0.05),
    "LoRA + checkpointing": Method(lora_r=16, lora_dropout=0.05, gradient_checkpointing=True),
    "QLoRA": Method(lora_r=16, lora_dropout=0.05, quantization="nf4"),
    "QLoRA + checkpointing": Method(
        lora_r=16, lora_dropout=0.05, quantization="nf4", gradient_checkpointing=True
    ),
}


def figures() -> dict[str, dict[str, int]]:
    """Model name to method name to estimated bytes."""
    return {
        model: {
            method: estimate(ModelShape.of(config), settings, tokens=SEQ * BATCH).total
            for method, settings in METHODS.items()
        }
        for model, config in MODELS.items()
    }


def table() -> str:
    header = ["model", "parameters", *METHODS, *(f"first that fits {gb} GB" for gb in GPUS_GB)]
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for model, by_method in figures().items():
        plain = by_method["LoRA"]
        cells = [f"{size / GIB:.1f} GiB ({size / plain:.0%})" for size in by_method.values()]
        fits = [_first_fitting(by_method, gb) for gb in GPUS_GB]
        params = f"{ModelShape.of(MODELS[model]).params / 1e9:.2f}B"
        lines.append("| " + " | ".join([model, params, *cells, *fits]) + " |")
    return "\n".join(lines)


def _first_fitting(by_method: dict[str, int], gigabytes: int) -> str:
    """The first method, in the table's order (fastest and most precise first), under the card's
    memory (GB as cards are sold, less a tenth for the CUDA context and fragmentation)."""
    usable = gigabytes * 1e9 * 0.9
    # Data parallelism copies the whole model to every GPU: more of them do not hold a larger one.
    return next((method for method, size in by_method.items() if size <= usable), "none (a larger GPU)")


if __name__ == "__main__":
    print(f"Estimated peak GPU memory, batch {BATCH} x {SEQ} tokens, bf16, LoRA r=16 all-linear")
    print(table())
