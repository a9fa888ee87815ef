"""CheckpointHook: periodic checkpoints, the last one, the best one by a metric, and a ``last_checkpoint`` pointer."""
from __future__ import annotations

import glob
import os
import os.path as osp
import re
from typing import Any

from seglab.registry import HOOKS, ConfigError
from seglab.unused_arguments import warn_unused

from .hook import Hook
from .protocol import RunnerLike

__all__ = ["CheckpointHook"]

_GREATER = ("acc", "top", "AR@", "auc", "precision", "mAP", "mDice", "mIoU", "mAcc", "aAcc", "Fscore", "Recall")
_LESS = ("loss",)


@HOOKS.register_module()
class CheckpointHook(Hook):
    """Saves ``iter_N.pth`` every ``interval`` iterations (and at the end when ``save_last``).

    ``save_best``: a metric name (e.g. 'mIoU'), 'auto' (the first metric), or a list; the best
    checkpoint is ``best_<metric>_iter_N.pth`` and replaces the previous best. ``rule`` 'greater' or
    'less' (inferred from the name when None). ``max_keep_ckpts`` > 0 keeps only the newest periodic
    checkpoints. After every save, ``<out_dir>/last_checkpoint`` holds the path of the newest one.
    """

    priority = "VERY_LOW"

    def __init__(self, interval: int = -1, by_epoch: bool = True, save_optimizer: bool = True,
                 save_param_scheduler: bool = True, out_dir: str | None = None, max_keep_ckpts: int = -1,
                 save_last: bool = True, save_best: str | list[str] | None = None,
                 rule: str | list[str] | None = None, greater_keys: list[str] | None = None,
                 less_keys: list[str] | None = None, file_client_args: dict | None = None,
                 filename_tmpl: str | None = None, backend_args: dict | None = None,
                 published_keys: Any = None, save_begin: int = 0) -> None:
        warn_unused("CheckpointHook", file_client_args=file_client_args, backend_args=backend_args,
                    published_keys=published_keys)
        self.interval = interval
        self.by_epoch = by_epoch
        self.save_optimizer = save_optimizer
        self.save_param_scheduler = save_param_scheduler
        self.out_dir = out_dir
        self.max_keep_ckpts = max_keep_ckpts
        self.save_last = save_last
        self.save_begin = save_begin
        self.filename_tmpl = filename_tmpl or ("epoch_{}.pth" if by_epoch else "iter_{}.pth")
        self.save_best = [save_best] if isinstance(save_best, str) else list(save_best or [])
        rules = rule if isinstance(rule, list) else [rule] * max(len(self.save_best), 1)
        if len(rules) != max(len(self.save_best), 1):
            raise ConfigError("CheckpointHook: give one rule per save_best key")
        for r in rules:
            if r not in (None, "greater", "less"):
                raise ConfigError(f"CheckpointHook: rule must be 'greater', 'less' or None, got {r!r}")
        self.rules = rules
        self.greater_keys = tuple(greater_keys or _GREATER)
        self.less_keys = tuple(less_keys or _LESS)
        self.saved: list[str] = []  # periodic checkpoints written by this run, oldest first
        self.best_paths: dict[str, str] = {}

    # ---- setup -----------------------------------------------------------------------------------
    def before_train(self, runner: RunnerLike) -> None:
        self.out_dir = self.out_dir or runner.work_dir
        os.makedirs(self.out_dir, exist_ok=True)
        # After a resume, older checkpoints of the same run count towards max_keep_ckpts.
        pattern = re.compile("^" + re.escape(self.filename_tmpl).replace(r"\{\}", r"(\d+)") + "$")
        found = []
        for path in glob.glob(osp.join(self.out_dir, "*.pth")):
            m = pattern.match(osp.basename(path))
            if m:
                found.append((int(m.group(1)), path))
        self.saved = [p for _, p in sorted(found)]
        for key in self.save_best:
            best = runner.message_hub.get_info(f"best_ckpt_{key}")
            if best:
                self.best_paths[key] = best

    # ---- periodic saving -------------------------------------------------------------------------
    def after_train_iter(self, runner: RunnerLike, batch_idx: int, data_batch: Any = None, outputs: Any = None) -> None:
        if self.by_epoch:
            return
        done = runner.iter + 1
        last = done == runner.max_iters
        if done > self.save_begin and (self.every_n(done - self.save_begin, self.interval) or (self.save_last and last)):
            self._save(runner, self.filename_tmpl.format(done), dict(iter=done, epoch=runner.epoch))

    def after_train_epoch(self, runner: RunnerLike) -> None:
        if not self.by_epoch:
            return
        done = runner.epoch + 1
        last = done == runner.max_epochs
        if done > self.save_begin and (self.every_n(done - self.save_begin, self.interval) or (self.save_last and last)):
            self._save(runner, self.filename_tmpl.format(done), dict(iter=runner.iter, epoch=done))

    def _save(self, runner: RunnerLike, name: str, meta: dict) -> None:
        path = osp.join(self.out_dir, name)
        if path in self.saved:
            return
        runner.save_checkpoint(self.out_dir, name, save_optimizer=self.save_optimizer,
                               save_param_scheduler=self.save_param_scheduler, meta=meta)
        self.saved.append(path)
        if self.max_keep_ckpts > 0:
            while len(self.saved) > self.max_keep_ckpts:
                old = self.saved.pop(0)
                if getattr(runner, "rank", 0) == 0 and osp.isfile(old):  # only the writing rank deletes
                    os.remove(old)

    # ---- best checkpoint -------------------------------------------------------------------------
    def _rule(self, key: str, rule: str | None) -> str:
        if rule is not None:
            return rule
        if any(k.lower() in key.lower() for k in self.greater_keys):
            return "greater"
        if any(k.lower() in key.lower() for k in self.less_keys):
            return "less"
        raise ConfigError(f"CheckpointHook: cannot infer rule for save_best='{key}'; set rule='greater' or 'less'")

    def after_val_epoch(self, runner: RunnerLike, metrics: dict | None = None) -> None:
        if not self.save_best or not metrics:
            return
        for key, rule in zip(self.save_best, self.rules):
            if key == "auto":
                key = next(iter(metrics))
            if key not in metrics:
                raise ConfigError(f"CheckpointHook: save_best='{key}' is not among the metrics {list(metrics)}")
            rule = self._rule(key, rule)
            score = float(metrics[key])
            best = runner.message_hub.get_info(f"best_score_{key}")
            if best is not None and not (score > best if rule == "greater" else score < best):
                continue
            runner.message_hub.update_info(f"best_score_{key}", score)
            old = self.best_paths.get(key)
            if old and getattr(runner, "rank", 0) == 0 and osp.isfile(old):
                os.remove(old)
            name = f"best_{key.replace('/', '_')}_{'epoch' if self.by_epoch else 'iter'}_{runner.epoch if self.by_epoch else runner.iter}.pth"
            self.out_dir = self.out_dir or runner.work_dir
            path = osp.join(self.out_dir, name)
            self.best_paths[key] = path
            runner.message_hub.update_info(f"best_ckpt_{key}", path)
            runner.save_checkpoint(self.out_dir, name, save_optimizer=False, save_param_scheduler=False,
                                   update_pointer=False)
            runner.logger.info(f"best {key} {score:.4f} at iteration {runner.iter}; saved {path}")
