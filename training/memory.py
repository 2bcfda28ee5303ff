"""How much accelerator memory a LoRA run needs, estimated from the model's config.json alone (pure:
no torch, no weights), so a run that cannot fit is refused before anything is loaded.

The estimate adds four parts, for one GPU's share of a step:

- weights: every parameter at the load dtype (bf16 on GPUs, fp32 on CPU). QLoRA keeps the decoder
  layers' linear weights in 4-bit NF4 with double quantization (about 0.52 bytes a parameter) and,
  as peft's `prepare_model_for_kbit_training` does, the embeddings, output layer and norms in fp32;
- adapter: the LoRA matrices with their gradients and AdamW's two moments (16 bytes a parameter in
  fp32; 8 when QLoRA keeps them in bf16);
- activations: what autograd keeps for the backward pass, counted tensor by tensor for a Llama-style
  decoder layer (see `_layer_activations`): per token, about 2h + 2q + 2kv + 4i values, plus the
  adapted layers' inputs (one copy per adapted layer when LoRA dropout is on). Norms keep an fp32
  copy of their input whatever the dtype. With gradient checkpointing a layer keeps only its input,
  and one layer's activations are rebuilt at a time;
- logits: Finch computes the output layer at supervised tokens only (training/loop.py); the logits,
  their log-softmax and its gradient are fp32.

It is an estimate for dense Llama-style decoders (a mixture of experts counts every expert's
weights, the rest as one dense MLP): kernels' workspaces, the allocator's fragmentation and
framework overheads are not counted (tests/training/test_memory.py measures it against a real step on the CPU).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

GIB = 1024**3
NF4_BYTES = 0.5 + (8 + 32 / 256) / 64 / 8  # 4 bits, an 8-bit absmax per 64, an fp32 per 256 absmax
FP32 = 4
ADAM_STATE_BYTES = {FP32: 16, 2: 8}  # weight, gradient and two moments in the adapter's dtype
LOGIT_COPIES = 3  # the logits, their log-softmax (kept for backward) and the gradient, all fp32
LAYER_LINEARS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
MLP_LINEARS = ("gate_proj", "up_proj", "down_proj")


class UnknownShape(ValueError):
    """The config.json lacks a size the estimate needs."""


@dataclass(frozen=True)
class ModelShape:
    layers: int
    hidden: int
    intermediate: int
    vocab: int
    q_width: int  # attention heads x head size
    kv_width: int  # key/value heads x head size
    tied: bool  # the output layer shares the embedding matrix
    experts: int = 1  # a mixture of experts' MLPs a layer (their weights; a token runs a few)

    @classmethod
    def of(cls, config: dict[str, Any]) -> ModelShape:
        """From a transformers config.json (a multimodal model's text_config when it has one)."""
        config = config.get("text_config") or config
        hidden = _first(config, "hidden_size", "n_embd", "d_model")
        heads = _first(config, "num_attention_heads", "n_head")
        head_dim = config.get("head_dim") or hidden // heads
        return cls(
            layers=_first(config, "num_hidden_layers", "n_layer"),
            hidden=hidden,
            intermediate=config.get("intermediate_size") or config.get("n_inner") or 4 * hidden,
            vocab=_first(config, "vocab_size"),
            q_width=heads * head_dim,
            kv_width=(config.get("num_key_value_heads") or heads) * head_dim,
            tied=bool(config.get("tie_word_embeddings", True)),
            experts=config.get("num_local_experts") or config.get("num_experts") or 1,
        )

    def linears(self) -> dict[str, tuple[int, int]]:
        """A decoder layer's linear layers: name to (in, out) features."""
        h, q, kv, i = self.hidden, self.q_width, self.kv_width, self.intermediate
        return {
            "q_proj": (h, q),
            "k_proj": (h, kv),
            "v_proj": (h, kv),
            "o_proj": (q, h),
            "gate_proj": (h, i),
            "up_proj": (h, i),
            "down_proj": (i, h),
        }

    @property
    def layer_linear_params(self) -> int:
        sizes = {name: n_in * n_out for name, (n_in, n_out) in self.linears().items()}
        mlp = sum(size for name, size in sizes.items() if name in MLP_LINEARS)
        return self.layers * (sum(sizes.values()) + (self.experts - 1) * mlp)

    @property
    def other_params(self) -> int:
        """Embeddings, the output layer when untied, and the norms."""
        embeddings = self.vocab * self.hidden * (1 if self.tied else 2)
        return embeddings + (2 * self.layers + 1) * self.hidden

    @property
    def params(self) -> int:
        return self.layer_linear_params + self.other_params


@dataclass(frozen=True)
class Method:
    """How the run trains, as far as memory goes."""

    lora_r: int
    target_modules: str | list[str] = "all-linear"
    lora_dropout: float = 0.0
    quantization: str = "none"  # or "nf4"
    gradient_checkpointing: bool = False
    dtype_bytes: int = 2  # weights and activations: 2 on GPUs (bf16), 4 on CPU (fp32)


@dataclass(frozen=True)
class Estimate:
    weights: int
    adapter: int
    activations: int
    logits: int

    @property
    def total(self) -> int:
        return self.weights + self.adapter + self.activations + self.logits

    def as_dict(self) -> dict[str, int]:
        return {**asdict(self), "total": self.total}


def estimate(
    shape: ModelShape, method: Method, *, tokens: int, supervised_tokens: int | None = None
) -> Estimate:
    """Bytes one GPU needs for a step over `tokens` (padded) tokens of which `supervised_tokens`
    (all, when not given) are answer tokens."""
    supervised = tokens if supervised_tokens is None else min(supervised_tokens, tokens)
    adapted = _adapted(shape, method.target_modules)
    return Estimate(
        weights=_weights(shape, method),
        adapter=_adapter(shape, method, adapted),
        activations=tokens * _token_activations(shape, method, adapted),
        logits=supervised * (shape.vocab * LOGIT_COPIES * FP32 + shape.hidden * FP32),
    )


def _weights(shape: ModelShape, method: Method) -> int:
    if method.quantization == "nf4":
        return math.ceil(shape.layer_linear_params * NF4_BYTES) + shape.other_params * FP32
    return shape.params * method.dtype_bytes


def _adapter(shape: ModelShape, method: Method, adapted: dict[str, tuple[int, int]]) -> int:
    params = shape.layers * sum(method.lora_r * (n_in + n_out) for n_in, n_out in adapted.values())
    # QLoRA's adapters are bf16; otherwise they stay fp32 over bf16 weights (autocast).
    adapter_bytes = 2 if method.quantization == "nf4" else FP32
    return params * ADAM_STATE_BYTES[adapter_bytes]


def _token_activations(shape: ModelShape, method: Method, adapted: dict[str, tuple[int, int]]) -> int:
    """Bytes a token keeps for backward across the decoder, the final norm included."""
    layer = _layer_activations(shape, method, adapted)
    final_norm = shape.hidden * FP32
    if not method.gradient_checkpointing:
        return shape.layers * layer + final_norm
    # Each layer keeps its input; backward rebuilds one layer's activations at a time.
    return shape.layers * shape.hidden * method.dtype_bytes + layer + final_norm


def _layer_activations(shape: ModelShape, method: Method, adapted: dict[str, tuple[int, int]]) -> int:
    """Bytes one token keeps in one decoder layer (frozen base weights, so a base linear keeps no
    input): the two norms' fp32 input copies; the rotated queries and keys, the values and the
    attention output (SDPA keeps no attention matrix); the MLP's gate, activation, up projection
    and their product; each adapted linear's input (one shared input per group without dropout,
    a copy and a one-byte mask each with it) and its rank-r middle."""
    h, q, kv, i = shape.hidden, shape.q_width, shape.kv_width, shape.intermediate
    values = 2 * q + 2 * kv + 4 * i
    if method.lora_dropout > 0:
        inputs = sum(n_in for n_in, _ in adapted.values())
        extra = inputs * method.dtype_bytes + inputs  # dropped-out copies and their masks
    else:  # the normed inputs of the attention and MLP groups (their other inputs are counted above)
        groups = {"attention": ("q_proj", "k_proj", "v_proj"), "mlp": ("gate_proj", "up_proj")}
        extra = sum(h for names in groups.values() if any(n in adapted for n in names)) * method.dtype_bytes
    middles = method.lora_r * len(adapted) * method.dtype_bytes
    return 2 * h * FP32 + values * method.dtype_bytes + extra + middles


def _adapted(shape: ModelShape, targets: str | list[str]) -> dict[str, tuple[int, int]]:
    """The layer's linears LoRA adapts: all for "all-linear", else those named (a name Finch does
    not know counts as all of them: the estimate errs high rather than low)."""
    linears = shape.linears()
    if targets == "all-linear" or not set(targets) <= set(LAYER_LINEARS):
        return linears
    return {name: size for name, size in linears.items() if name in targets}


def _first(config: dict[str, Any], *names: str) -> int:
    for name in names:
        value = config.get(name)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    raise UnknownShape(f"config.json has no {' / '.join(names)}: the memory estimate needs it.")


def gib(size: float) -> str:
    return f"{size / GIB:.1f} GiB"
