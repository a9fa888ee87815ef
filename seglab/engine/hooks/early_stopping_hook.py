"""EarlyStoppingHook: ends training when a validation metric stops improving."""
from __future__ import annotations

import logging
import math
import warnings

from seglab.registry import HOOKS, ConfigError

from .hook import Hook
from .protocol import RunnerLike

__all__ = ["EarlyStoppingHook"]

_log = logging.getLogger("seglab")
# Names whose larger values are better / worse, as MMEngine infers the rule.
_GREATER_KEYS = ("acc", "top", "ar@", "auc", "precision", "map", "mdice", "miou", "macc", "aacc")
_LESS_KEYS = ("loss",)


def infer_rule(monitor: str) -> str:
    """'greater' or 'less' for a metric name (an exact name first, then a name containing one)."""
    name = monitor.lower()
    if name in _GREATER_KEYS:
        return "greater"
    if name in _LESS_KEYS:
        return "less"
    if any(key in name for key in _GREATER_KEYS):
        return "greater"
    if any(key in name for key in _LESS_KEYS):
        return "less"
    raise ConfigError(f"EarlyStoppingHook: cannot infer whether larger '{monitor}' is better; "
                      "set rule='greater' or rule='less'")


@HOOKS.register_module()
class EarlyStoppingHook(Hook):
    """After each validation, stops training once ``monitor`` has not improved for ``patience`` validations.

    An improvement must beat the best value by more than ``min_delta`` (``rule`` 'greater' or
    'less', inferred from the name when None). Training also stops at once when the value is
    NaN/inf (``check_finite``) or passes ``stopping_threshold``. A missing ``monitor`` is an error
    when ``strict``, else a warning. Stopping sets ``runner.should_stop``; the train loop ends after
    the current iteration (or epoch).
    """

    priority = "LOWEST"

    def __init__(self, monitor: str, rule: str | None = None, min_delta: float = 0.1, strict: bool = False,
                 check_finite: bool = True, patience: int = 5, stopping_threshold: float | None = None) -> None:
        if rule is not None and rule not in ("greater", "less"):
            raise ConfigError(f"EarlyStoppingHook: rule must be 'greater', 'less' or None, got {rule!r}")
        if patience < 1:
            raise ConfigError(f"EarlyStoppingHook: patience must be >= 1, got {patience}")
        self.monitor = monitor
        self.rule = rule or infer_rule(monitor)
        # Signed so that "best + min_delta" is the value to beat under either rule.
        self.min_delta = min_delta if self.rule == "greater" else -min_delta
        self.strict = strict
        self.check_finite = check_finite
        self.patience = patience
        self.stopping_threshold = stopping_threshold
        self.wait_count = 0
        self.best_score = -math.inf if self.rule == "greater" else math.inf

    def _better(self, a: float, b: float) -> bool:
        return a > b if self.rule == "greater" else a < b

    def check(self, score: float) -> tuple[bool, str]:
        """Record one validation result; return (stop?, reason)."""
        if self.check_finite and not math.isfinite(score):
            return True, f"{self.monitor} = {score} is not finite; best so far {self.best_score:.4f}"
        if self.stopping_threshold is not None and self._better(score, self.stopping_threshold):
            self.best_score = score
            return True, f"{self.monitor} = {score} passed stopping_threshold {self.stopping_threshold}"
        if self._better(self.best_score + self.min_delta, score):
            self.wait_count += 1
            if self.wait_count >= self.patience:
                return True, (f"{self.monitor} did not improve by more than {abs(self.min_delta)} in the last "
                              f"{self.wait_count} validations; best {self.best_score:.4f}")
            return False, ""
        self.best_score = score
        self.wait_count = 0
        return False, ""

    def after_val_epoch(self, runner: RunnerLike, metrics: dict | None = None) -> None:
        metrics = metrics or {}
        if self.monitor not in metrics:
            message = (f"EarlyStoppingHook: monitor '{self.monitor}' is not among the metrics {sorted(metrics)}")
            if self.strict:
                raise ConfigError(message + "; fix monitor or set strict=False")
            warnings.warn(message + "; skipping the early-stopping check", stacklevel=2)
            return
        stop, reason = self.check(float(metrics[self.monitor]))
        if stop:
            runner.should_stop = True
            logger = getattr(runner, "logger", _log)
            logger.info(f"early stopping: {reason}")

    # Not in MMEngine: the count survives a resume, so resuming does not reset the patience.
    def before_save_checkpoint(self, runner: RunnerLike, checkpoint: dict) -> None:
        checkpoint.setdefault("early_stopping", {})[self.monitor] = dict(
            best_score=self.best_score, wait_count=self.wait_count)

    def after_load_checkpoint(self, runner: RunnerLike, checkpoint: dict) -> None:
        if not getattr(runner, "resume_from", False):
            return
        state = checkpoint.get("early_stopping", {}).get(self.monitor)
        if state:
            self.best_score = float(state["best_score"])
            self.wait_count = int(state["wait_count"])
