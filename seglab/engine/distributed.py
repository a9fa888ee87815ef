"""Distributed training: process-group setup from torchrun's environment and a DDP wrapper with train_step."""
from __future__ import annotations

import logging
import os
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

__all__ = ["SegDistributedDataParallel", "all_reduce_mean", "broadcast_object", "convert_sync_bn", "destroy_dist",
           "get_dist_info", "init_dist"]


def get_dist_info() -> tuple[int, int]:
    """(rank, world size); (0, 1) without a process group."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def broadcast_object(obj: Any, src: int = 0) -> Any:
    """``obj`` of rank ``src`` on every rank (itself without a process group)."""
    if get_dist_info()[1] == 1:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def all_reduce_mean(values: dict[str, float], weight: float = 1.0) -> dict[str, float]:
    """Weighted mean of each value over ranks (``weight``: this rank's count); unchanged without a group."""
    if get_dist_info()[1] == 1 or not values:
        return dict(values)
    device = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")
    keys = sorted(values)
    t = torch.tensor([values[k] * weight for k in keys] + [weight], dtype=torch.float64, device=device)
    dist.all_reduce(t)
    total = float(t[-1])
    means = {k: float(t[i]) / max(total, 1e-12) for i, k in enumerate(keys)}
    return {k: means[k] for k in values}  # the caller's order (log lines keep their layout)


def init_dist(launcher: str, backend: str | None = None, timeout: float | None = None) -> tuple[int, int]:
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
        kwargs = {}
        if timeout is not None:
            import datetime

            kwargs["timeout"] = datetime.timedelta(seconds=float(timeout))
        dist.init_process_group(backend=backend, **kwargs)
    return dist.get_rank(), dist.get_world_size()


def convert_sync_bn(model: nn.Module, device: torch.device, world_size: int, logger: logging.Logger) -> nn.Module:
    """BatchNorm -> SyncBatchNorm for multi-process CUDA runs; elsewhere the model unchanged (and a log line)."""
    if world_size <= 1 or not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules()):
        return model
    if torch.device(device).type == "cuda":
        logger.info("converting BatchNorm layers to SyncBatchNorm (%d processes)", world_size)
        return nn.SyncBatchNorm.convert_sync_batchnorm(model)
    # torch's SyncBatchNorm only runs on CUDA; each process normalizes with its own batch.
    logger.info("keeping per-process BatchNorm: SyncBatchNorm needs CUDA (running on %s)", device)
    return model


def destroy_dist() -> None:
    """Wait for every rank (rank 0 may still be writing a checkpoint), then close the process group."""
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


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
