"""ParamSchedulerHook: steps the learning-rate schedulers after each iteration (or epoch)."""
from __future__ import annotations

from typing import Any

from seglab.registry import HOOKS

from .hook import Hook
from .protocol import RunnerLike

__all__ = ["ParamSchedulerHook"]


@HOOKS.register_module()
class ParamSchedulerHook(Hook):
    """Calls ``step()`` on iteration-based schedulers after every train iteration, epoch-based ones after every epoch."""

    priority = "LOW"

    def after_train_iter(self, runner: RunnerLike, batch_idx: int, data_batch: Any = None, outputs: Any = None) -> None:
        for scheduler in runner.param_schedulers:
            if not scheduler.by_epoch:
                scheduler.step()

    def after_train_epoch(self, runner: RunnerLike) -> None:
        for scheduler in runner.param_schedulers:
            if scheduler.by_epoch:
                scheduler.step()
