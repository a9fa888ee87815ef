"""Squeeze-and-excitation layer ("Squeeze-and-Excitation Networks", https://arxiv.org/abs/1709.01507),
in MMSeg's form (keys ``conv1.conv``, ``conv2.conv``)."""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ...registry import ConfigError
from .conv_module import ConvModule
from .make_divisible import make_divisible

__all__ = ["SELayer"]


class SELayer(nn.Module):
    """Global pool -> 1x1 conv (to ``make_divisible(channels // ratio, 8)``) -> act -> 1x1 conv -> gate act;
    the input is scaled by the gate. (N, C, H, W) -> (N, C, H, W).

    ``act_cfg`` is one dict for both convs or a pair (squeeze activation, gate activation).
    """

    def __init__(self, channels: int, ratio: int = 16, conv_cfg: dict | None = None,
                 act_cfg: dict | Sequence[dict] = (dict(type="ReLU"), dict(type="HSigmoid", bias=3.0, divisor=6.0))
                 ) -> None:
        super().__init__()
        acts = (act_cfg, act_cfg) if isinstance(act_cfg, dict) else tuple(act_cfg)
        if len(acts) != 2 or not all(isinstance(a, dict) for a in acts):
            raise ConfigError(f"SELayer: act_cfg must be a dict or a pair of dicts, got {act_cfg!r}")
        squeezed = make_divisible(channels // ratio, 8)
        self.global_avgpool = nn.AdaptiveAvgPool2d(1)
        self.conv1 = ConvModule(channels, squeezed, 1, conv_cfg=conv_cfg, act_cfg=acts[0])
        self.conv2 = ConvModule(squeezed, channels, 1, conv_cfg=conv_cfg, act_cfg=acts[1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.conv2(self.conv1(self.global_avgpool(x)))
