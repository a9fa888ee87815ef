"""Pyramid pooling modules of the bilateral real-time networks: DAPPM ("Deep Dual-resolution Networks",
https://arxiv.org/abs/2101.06085) and PAPPM ("PIDNet", https://arxiv.org/abs/2206.02066).

Keys (MMSeg's): ``scales.<i>`` (pool then ConvModule), ``processes``, ``compression``, ``shortcut``.
Every ConvModule is pre-activation (norm -> act -> conv, bias-free).
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ...registry import ConfigError
from .conv_module import ConvModule

__all__ = ["DAPPM", "PAPPM"]

_PRE_ACT = dict(order=("norm", "act", "conv"), bias=False)


class DAPPM(nn.Module):
    """Deep aggregation pyramid pooling: a 1x1 branch, ``num_scales - 2`` average-pool branches
    (``kernel_sizes``/``strides``/``paddings``) and a global-pool branch, each added to the previous
    branch's output and refined by a 3x3 conv (hierarchical fusion); then concat + 1x1 compression
    plus a 1x1 shortcut. (N, in_channels, H, W) -> (N, out_channels, H, W).
    """

    def __init__(self, in_channels: int, branch_channels: int, out_channels: int, num_scales: int,
                 kernel_sizes: Sequence[int] = (5, 9, 17), strides: Sequence[int] = (2, 4, 8),
                 paddings: Sequence[int] = (2, 4, 8), norm_cfg: dict | None = dict(type="BN", momentum=0.1),  # noqa: B006
                 act_cfg: dict | None = dict(type="ReLU", inplace=True),  # noqa: B006 - never mutated
                 conv_cfg: dict = _PRE_ACT, upsample_mode: str = "bilinear") -> None:
        super().__init__()
        if num_scales < 2 or min(len(kernel_sizes), len(strides), len(paddings)) < num_scales - 2:
            raise ConfigError(f"{type(self).__name__}: num_scales={num_scales} needs >= 2 scales and "
                              f"{num_scales - 2} kernel_sizes/strides/paddings entries")
        self.num_scales, self.upsample_mode = num_scales, upsample_mode
        self.in_channels, self.branch_channels, self.out_channels = in_channels, branch_channels, out_channels
        self.norm_cfg, self.act_cfg, self.conv_cfg = norm_cfg, act_cfg, dict(conv_cfg)

        def conv(cin: int, cout: int, k: int = 1, **extra) -> ConvModule:
            return ConvModule(cin, cout, k, padding=k // 2, norm_cfg=norm_cfg, act_cfg=act_cfg,
                              **{**self.conv_cfg, **extra})

        self.scales = nn.ModuleList([conv(in_channels, branch_channels)])
        for i in range(num_scales - 2):
            self.scales.append(nn.Sequential(
                nn.AvgPool2d(kernel_size=kernel_sizes[i], stride=strides[i], padding=paddings[i]),
                conv(in_channels, branch_channels)))
        self.scales.append(nn.Sequential(nn.AdaptiveAvgPool2d((1, 1)), conv(in_channels, branch_channels)))
        self.processes: nn.Module = nn.ModuleList(
            [conv(branch_channels, branch_channels, 3) for _ in range(num_scales - 1)])
        self.compression = conv(branch_channels * num_scales, out_channels)
        self.shortcut = conv(in_channels, out_channels)
        self._conv = conv

    def _upsampled_scale(self, i: int, x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(self.scales[i](x), size=x.shape[2:], mode=self.upsample_mode)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = [self.scales[0](x)]
        for i in range(1, self.num_scales):
            feats.append(self.processes[i - 1](self._upsampled_scale(i, x) + feats[i - 1]))
        return self.compression(torch.cat(feats, dim=1)) + self.shortcut(x)


class PAPPM(DAPPM):
    """Parallel aggregation pyramid pooling: DAPPM's branches each added to the 1x1 branch and refined
    together by one grouped 3x3 conv (one group per branch), so the branches run in parallel."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        c = self.branch_channels * (self.num_scales - 1)
        self.processes = self._conv(c, c, 3, groups=self.num_scales - 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        base = self.scales[0](x)
        feats = [self._upsampled_scale(i, x) + base for i in range(1, self.num_scales)]
        return self.compression(torch.cat([base, self.processes(torch.cat(feats, dim=1))], dim=1)) + self.shortcut(x)
