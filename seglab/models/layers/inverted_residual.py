"""MobileNetV2's inverted residual block ("MobileNetV2: Inverted Residuals and Linear Bottlenecks",
https://arxiv.org/abs/1801.04381). Keys: ``conv.<i>.conv``/``conv.<i>.bn`` (MMCV ConvModule names)."""
from __future__ import annotations

from typing import Any

import torch
import torch.utils.checkpoint as cp
from torch import nn

from ...registry import ConfigError
from .conv_module import ConvModule

__all__ = ["InvertedResidual"]


class InvertedResidual(nn.Module):
    """1x1 expand (skipped when ``expand_ratio == 1``) -> 3x3 depthwise -> linear 1x1 project, plus identity
    when the shape is kept. (N, in_channels, H, W) -> (N, out_channels, H/stride, W/stride)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        stride: int,
        expand_ratio: float,
        dilation: int = 1,
        conv_cfg: dict | None = None,
        norm_cfg: dict | None = dict(type="BN"),  # noqa: B006 - never mutated
        act_cfg: dict | None = dict(type="ReLU6"),  # noqa: B006 - never mutated
        with_cp: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__()
        if stride not in (1, 2):
            raise ConfigError(f"InvertedResidual: stride must be 1 or 2, got {stride}")
        self.stride, self.with_cp = stride, with_cp
        self.use_res_connect = stride == 1 and in_channels == out_channels
        hidden_dim = int(round(in_channels * expand_ratio))
        common = dict(conv_cfg=conv_cfg, norm_cfg=norm_cfg, **kwargs)
        layers: list[nn.Module] = []
        if expand_ratio != 1:
            layers.append(ConvModule(in_channels, hidden_dim, 1, act_cfg=act_cfg, **common))
        layers.append(ConvModule(hidden_dim, hidden_dim, 3, stride=stride, padding=dilation, dilation=dilation,
                                 groups=hidden_dim, act_cfg=act_cfg, **common))
        # The projection stays linear: a ReLU here would destroy information in the narrow bottleneck.
        layers.append(ConvModule(hidden_dim, out_channels, 1, act_cfg=None, **common))
        self.conv = nn.Sequential(*layers)

    def _inner_forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.use_res_connect else self.conv(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.with_cp and x.requires_grad:
            return cp.checkpoint(self._inner_forward, x, use_reentrant=False)
        return self._inner_forward(x)
