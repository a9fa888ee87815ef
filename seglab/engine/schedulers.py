"""Learning-rate schedulers with MMEngine's semantics: each active on [begin, end), composed as a list.

Every scheduler updates ``param_group['lr']`` multiplicatively from its current value ("chained"
form), so a list like ``[LinearLR(end=1500), PolyLR(begin=1500, end=160000)]`` behaves exactly as
in MMEngine: the second one starts from whatever value the first one left. ``step()`` is called
once at construction (iteration 0) and then once after every training iteration.
"""
from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from typing import Any

from torch.optim import Optimizer

from seglab.registry import PARAM_SCHEDULERS, ConfigError
from seglab.unused_arguments import warn_unused

__all__ = [
    "INF",
    "ConstantLR",
    "CosineAnnealingLR",
    "ExponentialLR",
    "LinearLR",
    "MultiStepLR",
    "OneCycleLR",
    "ParamScheduler",
    "PolyLR",
    "PolyLRRatio",
    "StepLR",
]

INF = int(1e9)


def _optimizer_of(optimizer: Any) -> Optimizer:
    """Accept an Optimizer or an OptimWrapper (which exposes ``.optimizer``)."""
    inner = getattr(optimizer, "optimizer", optimizer)
    if not hasattr(inner, "param_groups"):
        raise TypeError(f"a scheduler needs an optimizer or OptimWrapper, got {type(optimizer).__name__}")
    return inner


class ParamScheduler:
    """Base: adjusts ``param_name`` of every param group while ``begin <= global_step < end``.

    ``last_step`` counts steps inside the active range (0 at ``begin``); ``global_step`` counts all.
    """

    def __init__(
        self,
        optimizer: Any,
        param_name: str = "lr",
        begin: int = 0,
        end: int = INF,
        last_step: int = -1,
        by_epoch: bool = True,
        verbose: bool = False,
    ) -> None:
        if end <= begin:
            raise ConfigError(f"{type(self).__name__}: end ({end}) must be larger than begin ({begin})")
        warn_unused("ParamScheduler", verbose=verbose)
        self.optimizer = _optimizer_of(optimizer)
        self.param_name = param_name
        self.begin, self.end = int(begin), int(end)
        self.by_epoch = by_epoch
        self.verbose = verbose
        for group in self.optimizer.param_groups:
            group.setdefault(f"initial_{param_name}", group[param_name])
        self.base_values = [g[f"initial_{param_name}"] for g in self.optimizer.param_groups]
        self.last_step = last_step
        self.global_step = -1
        self._last_value: list[float] = []
        self.step()

    def _get_value(self) -> list[float]:
        """New values for every group, from the current ones (chained form)."""
        raise NotImplementedError

    def _current(self) -> list[float]:
        return [g[self.param_name] for g in self.optimizer.param_groups]

    def step(self) -> None:
        """Advance one step; inside [begin, end) write the new values into the optimizer."""
        self.global_step += 1
        if self.begin <= self.global_step < self.end:
            self.last_step += 1
            for group, value in zip(self.optimizer.param_groups, self._get_value()):
                group[self.param_name] = value
        self._last_value = self._current()

    def get_last_value(self) -> list[float]:
        """The values of every group after the last ``step()``."""
        return self._last_value

    def state_dict(self) -> dict:
        """Plain state (counters and settings; no optimizer)."""
        return {k: v for k, v in self.__dict__.items() if k != "optimizer"}

    def load_state_dict(self, state: dict) -> None:
        """Restore what ``state_dict`` returned."""
        self.__dict__.update(state)


@PARAM_SCHEDULERS.register_module()
class ConstantLR(ParamScheduler):
    """Multiply the lr by ``factor`` on [begin, end - 1), then restore it."""

    def __init__(self, optimizer: Any, factor: float = 1.0 / 3, begin: int = 0, end: int = INF,
                 last_step: int = -1, by_epoch: bool = True, verbose: bool = False) -> None:
        if not 0 <= factor <= 1:
            raise ConfigError(f"ConstantLR: factor must be in [0, 1], got {factor}")
        self.factor = factor
        self.total_iters = end - begin - 1
        super().__init__(optimizer, "lr", begin, end, last_step, by_epoch, verbose)

    def _get_value(self) -> list[float]:
        if self.last_step == 0:
            return [v * self.factor for v in self._current()]
        if self.last_step == self.total_iters:
            return [v / self.factor for v in self._current()]
        return self._current()


@PARAM_SCHEDULERS.register_module()
class LinearLR(ParamScheduler):
    """Scale the lr linearly from ``start_factor`` to ``end_factor`` over [begin, end - 1]."""

    def __init__(self, optimizer: Any, start_factor: float = 1.0 / 3, end_factor: float = 1.0, begin: int = 0,
                 end: int = INF, last_step: int = -1, by_epoch: bool = True, verbose: bool = False) -> None:
        for name, f in (("start_factor", start_factor), ("end_factor", end_factor)):
            if not 0 <= f <= 1:
                raise ConfigError(f"LinearLR: {name} must be in [0, 1], got {f}")
        self.start_factor, self.end_factor = start_factor, end_factor
        self.total_iters = end - begin - 1
        super().__init__(optimizer, "lr", begin, end, last_step, by_epoch, verbose)

    def _get_value(self) -> list[float]:
        if self.last_step == 0:
            return [v * self.start_factor for v in self._current()]
        delta = self.end_factor - self.start_factor
        # ratio of factor(t) to factor(t-1) for factor(t) = start + delta * t / total_iters
        ratio = 1.0 + delta / (self.total_iters * self.start_factor + (self.last_step - 1) * delta)
        return [v * ratio for v in self._current()]


@PARAM_SCHEDULERS.register_module()
class PolyLR(ParamScheduler):
    """``lr = (lr0 - eta_min) * (1 - t / total_iters) ** power + eta_min`` with total_iters = end - begin - 1."""

    def __init__(self, optimizer: Any, eta_min: float = 0.0, power: float = 1.0, begin: int = 0, end: int = INF,
                 last_step: int = -1, by_epoch: bool = True, verbose: bool = False) -> None:
        self.eta_min, self.power = eta_min, power
        self.total_iters = end - begin - 1
        super().__init__(optimizer, "lr", begin, end, last_step, by_epoch, verbose)

    def _eta_min(self, base: float) -> float:
        return self.eta_min

    def _get_value(self) -> list[float]:
        if self.last_step == 0:
            return self._current()
        ratio = (1 - 1 / (self.total_iters - self.last_step + 1)) ** self.power
        return [(v - self._eta_min(b)) * ratio + self._eta_min(b) for v, b in zip(self._current(), self.base_values)]


@PARAM_SCHEDULERS.register_module()
class PolyLRRatio(PolyLR):
    """PolyLR whose floor is ``base_lr * eta_min_ratio`` per group (MMSeg's PolyLRRatio)."""

    def __init__(self, optimizer: Any, eta_min_ratio: float | None = None, eta_min: float = 0.0, power: float = 1.0,
                 begin: int = 0, end: int = INF, last_step: int = -1, by_epoch: bool = True,
                 verbose: bool = False) -> None:
        self.eta_min_ratio = eta_min_ratio
        super().__init__(optimizer, eta_min, power, begin, end, last_step, by_epoch, verbose)

    def _eta_min(self, base: float) -> float:
        return self.eta_min if self.eta_min_ratio is None else base * self.eta_min_ratio


@PARAM_SCHEDULERS.register_module()
class CosineAnnealingLR(ParamScheduler):
    """Cosine annealing from the lr to ``eta_min`` (or ``base * eta_min_ratio``) over ``T_max`` steps."""

    def __init__(self, optimizer: Any, T_max: int | None = None, eta_min: float | None = None, begin: int = 0,
                 end: int = INF, last_step: int = -1, by_epoch: bool = True, verbose: bool = False,
                 eta_min_ratio: float | None = None) -> None:
        if eta_min is None and eta_min_ratio is None:
            eta_min = 0.0
        if eta_min is not None and eta_min_ratio is not None:
            raise ConfigError("CosineAnnealingLR: give either eta_min or eta_min_ratio, not both")
        self.T_max = T_max or (end - begin)
        self.eta_min, self.eta_min_ratio = eta_min, eta_min_ratio
        super().__init__(optimizer, "lr", begin, end, last_step, by_epoch, verbose)

    def _floor(self, base: float) -> float:
        return base * self.eta_min_ratio if self.eta_min_ratio is not None else self.eta_min

    def _get_value(self) -> list[float]:
        t, T = self.last_step, self.T_max
        cur = self._current()
        if t == 0:
            return cur
        if (t - 1 - T) % (2 * T) == 0:  # at the bottom of a period the ratio form divides by zero
            return [v + (b - self._floor(b)) * (1 - math.cos(math.pi / T)) / 2 for v, b in zip(cur, self.base_values)]
        ratio = (1 + math.cos(math.pi * t / T)) / (1 + math.cos(math.pi * (t - 1) / T))
        return [ratio * (v - self._floor(b)) + self._floor(b) for v, b in zip(cur, self.base_values)]


@PARAM_SCHEDULERS.register_module()
class ExponentialLR(ParamScheduler):
    """Multiply the lr by ``gamma`` every step."""

    def __init__(self, optimizer: Any, gamma: float, begin: int = 0, end: int = INF, last_step: int = -1,
                 by_epoch: bool = True, verbose: bool = False) -> None:
        self.gamma = gamma
        super().__init__(optimizer, "lr", begin, end, last_step, by_epoch, verbose)

    def _get_value(self) -> list[float]:
        return self._current() if self.last_step == 0 else [v * self.gamma for v in self._current()]


@PARAM_SCHEDULERS.register_module()
class StepLR(ParamScheduler):
    """Multiply the lr by ``gamma`` every ``step_size`` steps."""

    def __init__(self, optimizer: Any, step_size: int, gamma: float = 0.1, begin: int = 0, end: int = INF,
                 last_step: int = -1, by_epoch: bool = True, verbose: bool = False) -> None:
        self.step_size, self.gamma = step_size, gamma
        super().__init__(optimizer, "lr", begin, end, last_step, by_epoch, verbose)

    def _get_value(self) -> list[float]:
        if self.last_step == 0 or self.last_step % self.step_size != 0:
            return self._current()
        return [v * self.gamma for v in self._current()]


@PARAM_SCHEDULERS.register_module()
class MultiStepLR(ParamScheduler):
    """Multiply the lr by ``gamma`` at each milestone (counted from ``begin``)."""

    def __init__(self, optimizer: Any, milestones: Sequence[int], gamma: float = 0.1, last_step: int = -1,
                 begin: int = 0, end: int = INF, by_epoch: bool = True, verbose: bool = False) -> None:
        self.milestones = dict(Counter(int(m) for m in milestones))
        self.gamma = gamma
        super().__init__(optimizer, "lr", begin, end, last_step, by_epoch, verbose)

    def _get_value(self) -> list[float]:
        n = self.milestones.get(self.last_step, 0)
        return [v * self.gamma**n for v in self._current()]


@PARAM_SCHEDULERS.register_module()
class OneCycleLR(ParamScheduler):
    """1cycle policy: warm up from ``eta_max/div_factor`` to ``eta_max``, then anneal to ``initial/final_div_factor``."""

    def __init__(self, optimizer: Any, eta_max: float | Sequence[float] = 0, total_steps: int | None = None,
                 pct_start: float = 0.3, anneal_strategy: str = "cos", div_factor: float = 25.0,
                 final_div_factor: float = 1e4, three_phase: bool = False, begin: int = 0, end: int = INF,
                 last_step: int = -1, by_epoch: bool = True, verbose: bool = False) -> None:
        if anneal_strategy not in ("cos", "linear"):
            raise ConfigError(f"OneCycleLR: anneal_strategy must be 'cos' or 'linear', got {anneal_strategy!r}")
        if not 0 <= pct_start <= 1:
            raise ConfigError(f"OneCycleLR: pct_start must be in [0, 1], got {pct_start}")
        self.total_steps = int(total_steps) if total_steps is not None else end - begin
        if self.total_steps <= 0:
            raise ConfigError("OneCycleLR: give total_steps or a finite end > begin")
        self.anneal_strategy = anneal_strategy
        p = float(pct_start * self.total_steps)
        last = self.total_steps - 1
        # (end step, start key, end key) of each phase
        self.phases = (
            [(p - 1, "initial", "max"), (2 * p - 2, "max", "initial"), (last, "initial", "min")]
            if three_phase else [(p - 1, "initial", "max"), (last, "max", "min")]
        )
        opt = _optimizer_of(optimizer)
        maxes = list(eta_max) if isinstance(eta_max, (list, tuple)) else [eta_max] * len(opt.param_groups)
        if last_step == -1:
            for group, mx in zip(opt.param_groups, maxes):
                group["initial_lr"] = mx / div_factor
                group["max_lr"] = mx
                group["min_lr"] = group["initial_lr"] / final_div_factor
        super().__init__(optimizer, "lr", begin, end, last_step, by_epoch, verbose)

    def _anneal(self, start: float, stop: float, pct: float) -> float:
        if self.anneal_strategy == "cos":
            return stop + (start - stop) / 2.0 * (math.cos(math.pi * pct) + 1)
        return (stop - start) * pct + start

    def _get_value(self) -> list[float]:
        t = self.last_step
        if t > self.total_steps:  # one step past the end is allowed: the runner steps after the last iteration
            raise ValueError(f"OneCycleLR: stepped {t + 1} times but total_steps is {self.total_steps}")
        values = []
        for group in self.optimizer.param_groups:
            start_step = 0.0
            for i, (end_step, a, b) in enumerate(self.phases):
                if t <= end_step or i == len(self.phases) - 1:
                    pct = (t - start_step) / (end_step - start_step)
                    values.append(self._anneal(group[f"{a}_lr"], group[f"{b}_lr"], pct))
                    break
                start_step = end_step
        return values


def build_param_schedulers(cfgs: dict | Sequence[dict] | None, optim_wrapper: Any) -> list[ParamScheduler]:
    """Build a list of schedulers from config dicts (or pass built ones through) on ``optim_wrapper``."""
    if cfgs is None:
        return []
    if isinstance(cfgs, dict):
        cfgs = [cfgs]
    out = []
    for i, cfg in enumerate(cfgs):
        if isinstance(cfg, ParamScheduler):
            out.append(cfg)
            continue
        cfg = dict(cfg)
        cfg.pop("convert_to_iter_based", None)  # the runner converts before building
        try:
            out.append(PARAM_SCHEDULERS.build(cfg, optimizer=optim_wrapper))
        except ConfigError as exc:
            raise ConfigError(f"param_scheduler[{i}]: {exc}") from exc
    return out
