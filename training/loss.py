"""The loss the loop trains on: right-padded batches, and cross-entropy summed over the answer
tokens alone (no Django)."""

from __future__ import annotations

from typing import Any

import torch

from training.prompts import IGNORE, Encoded


def collate(examples: list[Encoded], pad_id: int, device: torch.device) -> dict[str, torch.Tensor]:
    """Right-padded tensors; padding is masked out of attention and loss."""
    width = max(len(example.input_ids) for example in examples)
    ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    labels = torch.full((len(examples), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(examples), width), dtype=torch.long)
    for row, example in enumerate(examples):
        size = len(example.input_ids)
        ids[row, :size] = torch.tensor(example.input_ids)
        labels[row, :size] = torch.tensor(example.labels)
        mask[row, :size] = 1
    return {"input_ids": ids.to(device), "labels": labels.to(device), "attention_mask": mask.to(device)}


def summed_loss(model: Any, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Cross-entropy summed over the batch's supervised tokens (next-token prediction).

    The output layer runs only at supervised positions: a short answer after a long prompt then
    skips most of the vocabulary projection (the largest matrix of a small model) and the memory
    of its logits and their gradients."""
    targets = batch["labels"][:, 1:]
    parts = _decoder_and_head(model)
    if parts is None:  # a model whose forward does more to the logits than its output layer
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        shifted = logits[:, :-1, :].float()
        return torch.nn.functional.cross_entropy(
            shifted.reshape(-1, shifted.size(-1)), targets.reshape(-1), ignore_index=IGNORE, reduction="sum"
        )
    decoder, head = parts
    hidden = decoder(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
    supervised = targets != IGNORE
    logits = head(hidden[:, :-1, :][supervised]).float()
    return torch.nn.functional.cross_entropy(logits, targets[supervised], reduction="sum")


def _decoder_and_head(model: Any) -> tuple[Any, Any] | None:
    """The transformer body and the output layer of a causal LM (through a peft wrapper), when
    its logits are the output layer's alone (no soft-capping or scaling after it)."""
    causal = model.get_base_model() if hasattr(model, "get_base_model") else model
    config = getattr(causal, "config", None)
    if any(getattr(config, name, None) for name in ("final_logit_softcapping", "logit_scale")):
        return None
    try:
        decoder, head = causal.get_decoder(), causal.get_output_embeddings()
    except (AttributeError, NotImplementedError):
        return None
    if decoder is None or head is None or decoder is causal:
        return None
    return decoder, head


class SummedLoss(torch.nn.Module):
    """summed_loss as a module's forward, so that DDP (which must see the forward) can wrap it."""

    def __init__(self, model: Any) -> None:
        super().__init__()
        self.model = model

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, labels: torch.Tensor
    ) -> torch.Tensor:
        return summed_loss(
            self.model, {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels}
        )
