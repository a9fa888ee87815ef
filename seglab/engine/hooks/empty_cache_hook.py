"""EmptyCacheHook: releases PyTorch's cached CUDA memory around epochs and/or after iterations."""
from __future__ import annotations

from typing import Any

import torch

from seglab.registry import HOOKS

from .hook import Hook
from .protocol import RunnerLike

__all__ = ["EmptyCacheHook"]


def _empty_cache() -> None:
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


@HOOKS.register_module()
class EmptyCacheHook(Hook):
    """Calls ``torch.cuda.empty_cache()`` before epochs, after epochs and/or after iterations (train, val, test)."""

    priority = "NORMAL"

    def __init__(self, before_epoch: bool = False, after_epoch: bool = True, after_iter: bool = False) -> None:
        self._before_epoch = before_epoch
        self._after_epoch = after_epoch
        self._after_iter = after_iter

    def _on_before_epoch(self) -> None:
        if self._before_epoch:
            _empty_cache()

    def _on_after_epoch(self) -> None:
        if self._after_epoch:
            _empty_cache()

    def _on_after_iter(self) -> None:
        if self._after_iter:
            _empty_cache()

    def before_train_epoch(self, runner: RunnerLike) -> None:
        self._on_before_epoch()

    def before_val_epoch(self, runner: RunnerLike) -> None:
        self._on_before_epoch()

    def before_test_epoch(self, runner: RunnerLike) -> None:
        self._on_before_epoch()

    def after_train_epoch(self, runner: RunnerLike) -> None:
        self._on_after_epoch()

    def after_val_epoch(self, runner: RunnerLike, metrics: dict | None = None) -> None:
        self._on_after_epoch()

    def after_test_epoch(self, runner: RunnerLike, metrics: dict | None = None) -> None:
        self._on_after_epoch()

    def after_train_iter(self, runner: RunnerLike, batch_idx: int, data_batch: Any = None,
                         outputs: dict | None = None) -> None:
        self._on_after_iter()

    def after_val_iter(self, runner: RunnerLike, batch_idx: int, data_batch: Any = None, outputs: Any = None) -> None:
        self._on_after_iter()

    def after_test_iter(self, runner: RunnerLike, batch_idx: int, data_batch: Any = None, outputs: Any = None) -> None:
        self._on_after_iter()
