"""DistSamplerSeedHook: tells the sampler which epoch it is, so shuffling differs per epoch."""
from __future__ import annotations

from seglab.registry import HOOKS

from .hook import Hook
from .protocol import RunnerLike

__all__ = ["DistSamplerSeedHook"]


@HOOKS.register_module()
class DistSamplerSeedHook(Hook):
    """Calls ``sampler.set_epoch(epoch)`` before every training epoch (epoch-based loops)."""

    priority = "NORMAL"

    def before_train_epoch(self, runner: RunnerLike) -> None:
        loader = runner.train_dataloader
        for obj in (getattr(loader, "sampler", None), getattr(loader, "batch_sampler", None)):
            target = getattr(obj, "sampler", obj)
            if hasattr(target, "set_epoch"):
                target.set_epoch(runner.epoch)
