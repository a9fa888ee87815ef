"""Residual blocks shared by the two-branch real-time backbones (PIDNet, DDRNet), in MMSeg's
``mmseg.models.utils.basic_block`` form: ConvModule children (``conv1.conv``/``conv1.bn``...) and an
optional output activation, so a block can end linear before a branch merge."""
from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn

from ..layers import ConvModule, build_activation_layer

__all__ = ["BasicBlock", "Bottleneck", "make_res_layer"]

_BN = dict(type="BN")
_RELU = dict(type="ReLU", inplace=True)


class BasicBlock(nn.Module):
    """Two 3x3 convs plus a shortcut: (N, in_channels, H, W) -> (N, channels, H/stride, W/stride)."""

    expansion: ClassVar[int] = 1

    def __init__(self, in_channels: int, channels: int, stride: int = 1, downsample: nn.Module | None = None,
                 norm_cfg: dict | None = _BN, act_cfg: dict | None = _RELU, act_cfg_out: dict | None = _RELU) -> None:
        super().__init__()
        self.conv1 = ConvModule(in_channels, channels, 3, stride=stride, padding=1, norm_cfg=norm_cfg,
                                act_cfg=act_cfg)
        self.conv2 = ConvModule(channels, channels, 3, padding=1, norm_cfg=norm_cfg, act_cfg=None)
        self.downsample = downsample
        if act_cfg_out:
            self.act = build_activation_layer(act_cfg_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = self.downsample(x) if self.downsample is not None else x
        out = self.conv2(self.conv1(x)) + identity
        return self.act(out) if hasattr(self, "act") else out


class Bottleneck(nn.Module):
    """1x1 -> 3x3 (strided) -> 1x1 expanding by 2, plus a shortcut; no output activation by default."""

    expansion: ClassVar[int] = 2

    def __init__(self, in_channels: int, channels: int, stride: int = 1, downsample: nn.Module | None = None,
                 norm_cfg: dict | None = _BN, act_cfg: dict | None = _RELU, act_cfg_out: dict | None = None) -> None:
        super().__init__()
        self.conv1 = ConvModule(in_channels, channels, 1, norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.conv2 = ConvModule(channels, channels, 3, stride=stride, padding=1, norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.conv3 = ConvModule(channels, channels * self.expansion, 1, norm_cfg=norm_cfg, act_cfg=None)
        if act_cfg_out:
            self.act = build_activation_layer(act_cfg_out)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = self.downsample(x) if self.downsample is not None else x
        out = self.conv3(self.conv2(self.conv1(x))) + identity
        return self.act(out) if hasattr(self, "act") else out


def make_res_layer(block: type[BasicBlock] | type[Bottleneck], in_channels: int, channels: int, num_blocks: int,
                   stride: int, norm_cfg: dict | None, act_cfg: dict | None, downsample: nn.Module | None) -> nn.Sequential:
    """``num_blocks`` blocks; the first takes ``stride`` and ``downsample``, the last has no output activation."""
    layers: list[nn.Module] = [block(in_channels, channels, stride, downsample, norm_cfg=norm_cfg, act_cfg=act_cfg)]
    for i in range(1, num_blocks):
        layers.append(block(channels * block.expansion, channels, 1, norm_cfg=norm_cfg, act_cfg=act_cfg,
                            act_cfg_out=None if i == num_blocks - 1 else act_cfg))
    return nn.Sequential(*layers)
