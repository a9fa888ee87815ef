"""IterTimerHook: records data loading time and iteration time into the runner's message hub."""
from __future__ import annotations

import time
from typing import Any

from seglab.registry import HOOKS

from .hook import Hook
from .protocol import RunnerLike

__all__ = ["IterTimerHook"]


@HOOKS.register_module()
class IterTimerHook(Hook):
    """Measures ``data_time`` (waiting for the batch) and ``time`` (whole iteration) in seconds."""

    priority = "NORMAL"

    def __init__(self) -> None:
        self._t = time.perf_counter()

    def _start(self, runner: RunnerLike) -> None:
        self._t = time.perf_counter()

    before_train = before_val_epoch = before_test_epoch = _start  # type: ignore[assignment]

    def _before_iter(self, mode: str, runner: RunnerLike) -> None:
        runner.message_hub.update_scalar(f"{mode}/data_time", time.perf_counter() - self._t)

    def _after_iter(self, mode: str, runner: RunnerLike) -> None:
        now = time.perf_counter()
        runner.message_hub.update_scalar(f"{mode}/time", now - self._t)
        self._t = now

    def before_train_iter(self, runner: RunnerLike, batch_idx: int, data_batch: Any = None) -> None:
        self._before_iter("train", runner)

    def after_train_iter(self, runner: RunnerLike, batch_idx: int, data_batch: Any = None, outputs: Any = None) -> None:
        self._after_iter("train", runner)

    def after_val(self, runner: RunnerLike) -> None:
        self._t = time.perf_counter()  # validation time is not training time

    def before_val_iter(self, runner: RunnerLike, batch_idx: int, data_batch: Any = None) -> None:
        self._before_iter("val", runner)

    def after_val_iter(self, runner: RunnerLike, batch_idx: int, data_batch: Any = None, outputs: Any = None) -> None:
        self._after_iter("val", runner)

    def before_test_iter(self, runner: RunnerLike, batch_idx: int, data_batch: Any = None) -> None:
        self._before_iter("test", runner)

    def after_test_iter(self, runner: RunnerLike, batch_idx: int, data_batch: Any = None, outputs: Any = None) -> None:
        self._after_iter("test", runner)
