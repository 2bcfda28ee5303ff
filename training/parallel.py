"""Data parallelism for the training loop: each of `world` processes (one a GPU, started by
torchrun; training/launcher.py) takes its share of every batch, and DDP averages the gradients.

A run's batches are the same whatever the number of processes (batch_size and tokens_per_batch
are the whole step's): rank r takes examples r, r + world, ... of each length-sorted batch, so the
shares are alike in length. The loss of a share is divided by the supervised tokens of the whole
step and multiplied by `world` (DDP divides the summed gradients by it), so the gradients are
those of one process over the whole batch. A rank whose share is empty (a batch smaller than the
world) runs one example with weight 0: DDP needs every rank in every backward.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch


@dataclass(frozen=True)
class Parallel:
    rank: int
    world: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        """Rank 0 alone writes: metrics, checkpoints, adapters."""
        return self.rank == 0

    def share(self, batch: list[int]) -> tuple[list[int], float]:
        """This rank's examples of a batch, and the weight of their loss."""
        mine = batch[self.rank :: self.world]
        return (mine, 1.0) if mine else (batch[:1], 0.0)

    def mine(self, batches: list[list[int]]) -> list[list[int]]:
        """This rank's whole batches (evaluation: no gradients, so no need to split a batch)."""
        return batches[self.rank :: self.world]

    def sum(self, values: list[float]) -> list[float]:
        """The values summed over every rank."""
        if self.world == 1:
            return values
        tensor = torch.tensor(values, dtype=torch.float64, device=self.device)
        torch.distributed.all_reduce(tensor, op=torch.distributed.ReduceOp.SUM)
        return [float(value) for value in tensor.tolist()]

    def barrier(self) -> None:
        if self.world > 1:
            torch.distributed.barrier()

    def wrap(self, module: torch.nn.Module) -> Any:
        """DDP over `module` (it broadcasts rank 0's weights, so every rank starts alike); the module
        itself in one process."""
        if self.world == 1:
            return module
        from torch.nn.parallel import DistributedDataParallel

        device_ids = [self.device.index] if self.device.type == "cuda" else None
        return DistributedDataParallel(module, device_ids=device_ids)


def single(device: torch.device) -> Parallel:
    """One process: nothing to share, sum or wait for."""
    return Parallel(rank=0, world=1, device=device)
