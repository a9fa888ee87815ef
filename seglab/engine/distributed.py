"""Distributed training: process-group setup from torchrun's environment and a DDP wrapper with train_step."""
from __future__ import annotations

import os
from typing import Any

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

__all__ = ["SegDistributedDataParallel", "init_dist"]


def init_dist(launcher: str, backend: str | None = None) -> tuple[int, int]:
    """Initialise the default process group for ``launcher='pytorch'`` (torchrun); return (rank, world size)."""
    if launcher == "none":
        return 0, 1
    if launcher != "pytorch":
        raise ValueError(f"launcher must be 'none' or 'pytorch', got {launcher!r} (use torchrun for 'pytorch')")
    if "RANK" not in os.environ:
        raise RuntimeError("launcher='pytorch' needs torchrun's environment (RANK, WORLD_SIZE, LOCAL_RANK)")
    if not dist.is_initialized():
        if backend is None or (backend == "nccl" and not torch.cuda.is_available()):
            backend = "nccl" if torch.cuda.is_available() else "gloo"
        if torch.cuda.is_available():
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group(backend=backend)
    return dist.get_rank(), dist.get_world_size()


class SegDistributedDataParallel(DistributedDataParallel):
    """DDP whose ``train_step`` runs the forward through DDP (so gradients are all-reduced)."""

    def train_step(self, data: dict, optim_wrapper: Any) -> dict[str, float]:
        """Preprocess, forward through DDP in 'loss' mode, update parameters."""
        with optim_wrapper.optim_context(self):
            data = self.module.data_preprocessor(data, True)
            losses = self(**data, mode="loss") if isinstance(data, dict) else self(*data, mode="loss")
        loss, log_vars = self.module.parse_losses(losses)
        optim_wrapper.update_params(loss)
        return log_vars

    def val_step(self, data: dict) -> list:
        """Prediction needs no gradient sync."""
        return self.module.val_step(data)

    def test_step(self, data: dict) -> list:
        """Prediction needs no gradient sync."""
        return self.module.test_step(data)
