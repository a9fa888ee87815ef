"""LoggerHook: one log line every ``interval`` iterations, validation metrics, and scalars to the visualizer."""
from __future__ import annotations

import datetime
import time
from typing import Any

import torch

from seglab.registry import HOOKS

from .hook import Hook

__all__ = ["LoggerHook"]


def _fmt(value: float) -> str:
    return f"{value:.4e}" if abs(value) < 1e-3 and value != 0 else f"{value:.4f}"


@HOOKS.register_module()
class LoggerHook(Hook):
    """Logs ``Iter(train) [i/max] lr loss... time data_time eta memory`` every ``interval`` iterations.

    Loss terms and times are averaged over the last ``interval`` iterations. Scalars also go to the
    runner's visualizer (``vis_data/scalars.json`` with the local backend).
    """

    priority = "BELOW_NORMAL"

    def __init__(self, interval: int = 10, ignore_last: bool = True, interval_exp_name: int = 1000,
                 out_dir: str | None = None, out_suffix: Any = (".json", ".log", ".py"), keep_local: bool = True,
                 file_client_args: dict | None = None, log_metric_by_epoch: bool = True,
                 backend_args: dict | None = None) -> None:
        if interval < 1:
            raise ValueError(f"LoggerHook: interval must be >= 1, got {interval}")
        self.interval = interval
        self.ignore_last = ignore_last
        self.log_metric_by_epoch = log_metric_by_epoch
        self._start_time = time.perf_counter()
        self._start_iter = 0

    def before_train(self, runner: Any) -> None:
        self._start_time = time.perf_counter()
        self._start_iter = runner.iter

    def after_train_iter(self, runner: Any, batch_idx: int, data_batch: Any = None, outputs: dict | None = None) -> None:
        hub = runner.message_hub
        for key, value in (outputs or {}).items():
            hub.update_scalar(f"train/{key}", value)
        done = runner.iter + 1
        last = done == runner.max_iters
        if not (self.every_n(done, self.interval) or (last and not self.ignore_last)):
            return
        lr = runner.optim_wrapper.get_lr()["lr"][0]
        tag: dict[str, float] = {"lr": lr}
        for key in outputs or {}:
            tag[key] = hub.mean(f"train/{key}", self.interval)
        parts = [f"Iter(train) [{done:>{len(str(runner.max_iters))}}/{runner.max_iters}]", f"lr: {lr:.4e}"]
        elapsed = time.perf_counter() - self._start_time
        per_iter = elapsed / max(done - self._start_iter, 1)
        eta = datetime.timedelta(seconds=int(per_iter * (runner.max_iters - done)))
        parts.append(f"eta: {eta}")
        for key in ("time", "data_time"):
            value = hub.mean(f"train/{key}", self.interval)
            if value is not None:
                tag[key] = value
                parts.append(f"{key}: {value:.4f}")
        if torch.cuda.is_available() and next(runner.model.parameters()).is_cuda:
            memory = int(torch.cuda.max_memory_allocated() / 2**20)
            tag["memory"] = memory
            parts.append(f"memory: {memory}")
            torch.cuda.reset_peak_memory_stats()
        parts += [f"{k}: {_fmt(v)}" for k, v in tag.items() if k in (outputs or {})]
        grad_norm = getattr(runner.optim_wrapper, "last_grad_norm", None)
        if grad_norm is not None:
            tag["grad_norm"] = grad_norm
            parts.append(f"grad_norm: {grad_norm:.4f}")
        runner.logger.info("  ".join(parts))
        if runner.visualizer is not None:
            runner.visualizer.add_scalars(tag, step=done)

    def after_val_epoch(self, runner: Any, metrics: dict | None = None) -> None:
        self._log_metrics(runner, "val", metrics, len(runner.val_dataloader))

    def after_test_epoch(self, runner: Any, metrics: dict | None = None) -> None:
        self._log_metrics(runner, "test", metrics, len(runner.test_dataloader))

    def _log_metrics(self, runner: Any, mode: str, metrics: dict | None, n: int) -> None:
        metrics = metrics or {}
        shown = "  ".join(f"{k}: {v:.4f}" if isinstance(v, float) else f"{k}: {v}" for k, v in metrics.items())
        runner.logger.info(f"Iter({mode}) [{n}/{n}]  {shown}")
        if runner.visualizer is not None and mode == "val":
            runner.visualizer.add_scalars({k: v for k, v in metrics.items() if isinstance(v, (int, float))},
                                          step=runner.iter)
