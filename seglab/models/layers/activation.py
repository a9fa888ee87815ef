"""Activation layers from MMCV-style ``act_cfg`` dicts."""
from __future__ import annotations

import torch
from torch import nn

from ...registry import ConfigError

__all__ = ["HSigmoid", "HSwish", "Swish", "Clamp", "QuickGELU", "build_activation_layer"]


class HSigmoid(nn.Module):
    """Hard sigmoid ``clamp((x + bias) / divisor, min_value, max_value)`` (MMCV's defaults)."""

    def __init__(self, bias: float = 3.0, divisor: float = 6.0, min_value: float = 0.0, max_value: float = 1.0) -> None:
        super().__init__()
        self.bias, self.divisor, self.min_value, self.max_value = bias, divisor, min_value, max_value

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return ((x + self.bias) / self.divisor).clamp(self.min_value, self.max_value)


class HSwish(nn.Module):
    """Hard swish ``x * relu6(x + 3) / 6``."""

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.act = nn.ReLU6(inplace)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.act(x + 3) / 6


class Swish(nn.Module):
    """Swish ``x * sigmoid(x)``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(x)


class Clamp(nn.Module):
    """Clamp values into ``[min, max]``."""

    def __init__(self, min: float = -1.0, max: float = 1.0) -> None:  # noqa: A002 - MMCV's names
        super().__init__()
        self.min, self.max = min, max

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.clamp(x, min=self.min, max=self.max)


class QuickGELU(nn.Module):
    """CLIP's GELU approximation ``x * sigmoid(1.702 * x)`` (its weights were trained with it)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(1.702 * x)


_ACTIVATIONS = {
    "ReLU": nn.ReLU, "LeakyReLU": nn.LeakyReLU, "PReLU": nn.PReLU, "RReLU": nn.RReLU, "ReLU6": nn.ReLU6,
    "ELU": nn.ELU, "Sigmoid": nn.Sigmoid, "Tanh": nn.Tanh, "GELU": nn.GELU, "SiLU": nn.SiLU,
    "HSigmoid": HSigmoid, "HSwish": HSwish, "Swish": Swish, "Clamp": Clamp, "Clip": Clamp,
    "Hardswish": nn.Hardswish, "Hardsigmoid": nn.Hardsigmoid, "Softplus": nn.Softplus, "Mish": nn.Mish,
    "QuickGELU": QuickGELU,
}


def build_activation_layer(act_cfg: dict) -> nn.Module:
    """Build an activation module from ``dict(type='ReLU', inplace=True)`` and the like."""
    cfg = dict(act_cfg)
    act_type = cfg.pop("type")
    if not isinstance(act_type, str):
        return act_type(**cfg)
    if act_type not in _ACTIVATIONS:
        raise ConfigError(f"unknown activation type '{act_type}' in act_cfg; known: {', '.join(_ACTIVATIONS)}")
    cls = _ACTIVATIONS[act_type]
    if act_type in ("GELU", "Sigmoid", "Tanh", "Swish", "PReLU", "Softplus") and "inplace" in cfg:
        cfg.pop("inplace")  # these take no inplace flag; MMCV drops it the same way
    return cls(**cfg)
