"""Averaged copies of a model (EMA, momentum-annealed EMA, SWA), as MMEngine's ``ema_type`` names them.

State-dict layout matches MMEngine's (``steps`` plus ``module.<model key>``), so the
``ema_state_dict`` of an MMSeg/MMEngine checkpoint loads into these and back.
"""
from __future__ import annotations

import copy
import logging
from typing import Any

import torch
from torch import nn

from seglab.registry import MODELS, ConfigError

__all__ = ["BaseAveragedModel", "ExponentialMovingAverage", "MomentumAnnealingEMA", "StochasticWeightAverage"]

_log = logging.getLogger("seglab")


class BaseAveragedModel(nn.Module):
    """A frozen deep copy of ``model`` (``self.module``) whose floating tensors track an average of the source's.

    ``update_parameters(src)``: the first call copies ``src``; afterwards every ``interval``-th call
    applies ``avg_func``. With ``update_buffers=False`` only parameters are averaged and buffers
    (e.g. BN running stats) are copied from ``src`` on every call.
    """

    def __init__(self, model: nn.Module, interval: int = 1, device: torch.device | str | None = None,
                 update_buffers: bool = False) -> None:
        super().__init__()
        if interval < 1:
            raise ConfigError(f"EMA interval must be >= 1, got {interval}")
        self.module = copy.deepcopy(model).requires_grad_(False)
        if device is not None:
            self.module = self.module.to(device)
        self.interval = int(interval)
        self.update_buffers = update_buffers
        self.register_buffer("steps", torch.tensor(0, dtype=torch.long, device=device))

    def _averaged(self) -> dict[str, torch.Tensor]:
        """The tensors being averaged, by name (views of ``self.module``'s own tensors)."""
        if self.update_buffers:
            return self.module.state_dict(keep_vars=True)
        return dict(self.module.named_parameters())

    def avg_func(self, averaged: torch.Tensor, source: torch.Tensor, steps: int) -> None:
        """Update ``averaged`` in place from ``source`` (``steps`` updates so far)."""
        raise NotImplementedError

    @torch.no_grad()
    def update_parameters(self, model: nn.Module) -> None:
        """Fold ``model``'s current weights into the average (``model`` has the same structure as ``self.module``)."""
        source = model.state_dict(keep_vars=True) if self.update_buffers else dict(model.named_parameters())
        steps = int(self.steps)
        if steps == 0:
            for name, avg in self._averaged().items():
                avg.data.copy_(source[name].data)
        elif steps % self.interval == 0:
            for name, avg in self._averaged().items():
                if avg.dtype.is_floating_point:  # integer buffers (num_batches_tracked) are not averaged
                    self.avg_func(avg.data, source[name].data.to(avg.device), steps)
        if not self.update_buffers:
            for b_avg, b_src in zip(self.module.buffers(), model.buffers(), strict=True):
                b_avg.data.copy_(b_src.data.to(b_avg.device))
        self.steps += 1

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """Run the averaged model."""
        return self.module(*args, **kwargs)


@MODELS.register_module()
class ExponentialMovingAverage(BaseAveragedModel):
    """EMA: ``averaged = (1 - momentum) * averaged + momentum * source`` (momentum is small, e.g. 2e-4)."""

    def __init__(self, model: nn.Module, momentum: float = 0.0002, interval: int = 1,
                 device: torch.device | str | None = None, update_buffers: bool = False) -> None:
        super().__init__(model, interval, device, update_buffers)
        if not 0.0 < momentum < 1.0:
            raise ConfigError(f"EMA momentum must be in (0, 1), got {momentum}")
        if momentum > 0.5:
            # Unlike an optimizer's momentum, this is the weight of the *new* value.
            _log.warning("EMA momentum %s is the weight of the new weights and is usually small (e.g. 2e-4)", momentum)
        self.momentum = float(momentum)

    def avg_func(self, averaged: torch.Tensor, source: torch.Tensor, steps: int) -> None:
        """``averaged += momentum * (source - averaged)``."""
        averaged.lerp_(source, self.momentum)


@MODELS.register_module()
class MomentumAnnealingEMA(ExponentialMovingAverage):
    """EMA whose momentum starts large and anneals: ``max(momentum, gamma / (gamma + steps))``."""

    def __init__(self, model: nn.Module, momentum: float = 0.0002, gamma: int = 100, interval: int = 1,
                 device: torch.device | str | None = None, update_buffers: bool = False) -> None:
        super().__init__(model, momentum=momentum, interval=interval, device=device, update_buffers=update_buffers)
        if gamma <= 0:
            raise ConfigError(f"MomentumAnnealingEMA gamma must be > 0, got {gamma}")
        self.gamma = gamma

    def avg_func(self, averaged: torch.Tensor, source: torch.Tensor, steps: int) -> None:
        """EMA step with the annealed momentum."""
        averaged.lerp_(source, max(self.momentum, self.gamma / (self.gamma + steps)))


@MODELS.register_module()
class StochasticWeightAverage(BaseAveragedModel):
    """SWA: the running arithmetic mean of the weights seen at every ``interval``-th update."""

    def avg_func(self, averaged: torch.Tensor, source: torch.Tensor, steps: int) -> None:
        """``averaged += (source - averaged) / (number of averaged snapshots + 1)``."""
        averaged.add_(source - averaged, alpha=1.0 / float(steps // self.interval + 1))
