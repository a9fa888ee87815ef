"""LoggerHook: one log line every ``interval`` iterations, validation metrics, and scalars to the visualizer."""
from __future__ import annotations

import datetime
import sys
import time
from typing import Any

import torch

from seglab.registry import HOOKS
from seglab.unused_arguments import warn_unused

from .hook import Hook
from .protocol import RunnerLike

__all__ = ["LoggerHook"]


def _fmt(value: float) -> str:
    return f"{value:.4e}" if abs(value) < 1e-3 and value != 0 else f"{value:.4f}"


@HOOKS.register_module()
class LoggerHook(Hook):
    """Logs ``Iter(train) [i/max] lr loss... time data_time eta memory`` every ``interval`` iterations.

    Loss terms and times are averaged over the last ``interval`` iterations (and over all processes
    in distributed runs). Scalars also go to the runner's visualizer (``vis_data/scalars.json`` with
    the local backend). On a terminal (stdout is a TTY) a progress bar with the ETA is redrawn every
    iteration between the log lines; ``progress_bar=False`` turns it off, ``True`` forces it.
    """

    priority = "BELOW_NORMAL"

    def __init__(self, interval: int = 10, ignore_last: bool = True, interval_exp_name: int = 1000,
                 out_dir: str | None = None, out_suffix: Any = (".json", ".log", ".py"), keep_local: bool = True,
                 file_client_args: dict | None = None, log_metric_by_epoch: bool = True,
                 backend_args: dict | None = None, progress_bar: bool | None = None) -> None:
        if interval < 1:
            raise ValueError(f"LoggerHook: interval must be >= 1, got {interval}")
        warn_unused("LoggerHook", interval_exp_name=interval_exp_name, out_dir=out_dir, out_suffix=out_suffix,
                    keep_local=keep_local, file_client_args=file_client_args, backend_args=backend_args)
        self.interval = interval
        self.ignore_last = ignore_last
        self.log_metric_by_epoch = log_metric_by_epoch
        self.progress_bar = progress_bar
        self._start_time = time.perf_counter()
        self._start_iter = 0
        self._warm_time: float | None = None
        self._bar_shown = False

    def before_train(self, runner: RunnerLike) -> None:
        self._start_time = time.perf_counter()
        self._start_iter = runner.iter
        self._warm_time = None

    def _use_bar(self, runner: RunnerLike) -> bool:
        if getattr(runner, "rank", 0) != 0:
            return False
        if self.progress_bar is not None:
            return bool(self.progress_bar)
        isatty = getattr(sys.stdout, "isatty", None)
        return bool(isatty and isatty())

    def _eta(self, runner: RunnerLike, done: int) -> datetime.timedelta:
        """Time left at the rate of this run's iterations after its first."""
        # The first iteration carries one-off costs (torch.compile, cuDNN autotuning, the allocator's first
        # blocks, worker start-up) that would inflate the estimate; it counts only until a second one is done.
        now = time.perf_counter()
        if self._warm_time is not None and done > self._start_iter + 1:
            per_iter = (now - self._warm_time) / (done - self._start_iter - 1)
        else:
            per_iter = (now - self._start_time) / max(done - self._start_iter, 1)
        return datetime.timedelta(seconds=int(per_iter * (runner.max_iters - done)))

    def _clear_bar(self) -> None:
        if self._bar_shown:
            sys.stdout.write("\r\033[K")  # erase the bar so a log line can take its place
            sys.stdout.flush()
            self._bar_shown = False

    def _draw_bar(self, runner: RunnerLike, done: int, loss: float | None, width: int = 30) -> None:
        total = max(runner.max_iters, 1)
        filled = int(width * done / total)
        bar = "#" * filled + "." * (width - filled)
        text = f"\r[{bar}] {done}/{total} {100 * done / total:5.1f}%  eta {self._eta(runner, done)}"
        if loss is not None:
            text += f"  loss {loss:.4f}"
        sys.stdout.write(text)
        if done >= total:
            sys.stdout.write("\n")
        sys.stdout.flush()
        self._bar_shown = done < total

    def after_train_iter(self, runner: RunnerLike, batch_idx: int, data_batch: Any = None, outputs: dict | None = None) -> None:
        hub = runner.message_hub
        for key, value in (outputs or {}).items():
            hub.update_scalar(f"train/{key}", value)
        done = runner.iter + 1
        if done == self._start_iter + 1:
            self._warm_time = time.perf_counter()
        last = done == runner.max_iters
        bar = self._use_bar(runner)
        if not (self.every_n(done, self.interval) or (last and not self.ignore_last)):
            if bar:
                self._draw_bar(runner, done, (outputs or {}).get("loss"))
            return
        lr = runner.optim_wrapper.get_lr()["lr"][0]
        tag: dict[str, float] = {"lr": lr}
        means = {key: hub.mean(f"train/{key}", self.interval) for key in outputs or {}}
        if getattr(runner, "world_size", 1) > 1:
            from seglab.engine.distributed import all_reduce_mean

            means = all_reduce_mean(means)  # every rank reaches this line at the same iteration
        tag.update(means)
        parts = [f"Iter(train) [{done:>{len(str(runner.max_iters))}}/{runner.max_iters}]", f"lr: {lr:.4e}"]
        parts.append(f"eta: {self._eta(runner, done)}")
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
        if bar:
            self._clear_bar()
        runner.logger.info("  ".join(parts))
        if bar:
            self._draw_bar(runner, done, tag.get("loss"))
        if runner.visualizer is not None:
            runner.visualizer.add_scalars(tag, step=done)

    def after_val_epoch(self, runner: RunnerLike, metrics: dict | None = None) -> None:
        self._log_metrics(runner, "val", metrics, len(runner.val_dataloader))

    def after_test_epoch(self, runner: RunnerLike, metrics: dict | None = None) -> None:
        self._log_metrics(runner, "test", metrics, len(runner.test_dataloader))

    def _log_metrics(self, runner: RunnerLike, mode: str, metrics: dict | None, n: int) -> None:
        self._clear_bar()
        metrics = metrics or {}
        shown = "  ".join(f"{k}: {v:.4f}" if isinstance(v, float) else f"{k}: {v}" for k, v in metrics.items())
        runner.logger.info(f"Iter({mode}) [{n}/{n}]  {shown}")
        if runner.visualizer is not None and mode == "val":
            runner.visualizer.add_scalars({k: v for k, v in metrics.items() if isinstance(v, (int, float))},
                                          step=runner.iter)
