"""MobileNetV3's inverted residual block ("Searching for MobileNetV3", https://arxiv.org/abs/1905.02244).
Keys (MMSeg's ``InvertedResidualV3``): ``expand_conv``, ``depthwise_conv``, ``se.conv1/conv2``, ``linear_conv``."""
from __future__ import annotations

import torch
import torch.utils.checkpoint as cp
from torch import nn

from ...registry import ConfigError
from .conv_module import ConvModule
from .se_layer import SELayer

__all__ = ["InvertedResidualV3"]


class InvertedResidualV3(nn.Module):
    """Optional 1x1 expand -> kxk depthwise (TF "same" padding when strided) -> optional SE -> linear 1x1,
    plus identity when the shape is kept. (N, in_channels, H, W) -> (N, out_channels, H/stride, W/stride).

    ``dilation`` dilates the depthwise conv (MobileNetV3 for segmentation replaces its last strides by
    dilations); ``adaptive_padding`` forces TF-style padding on the depthwise conv (default: when strided).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        mid_channels: int,
        kernel_size: int = 3,
        stride: int = 1,
        se_cfg: dict | None = None,
        with_expand_conv: bool = True,
        conv_cfg: dict | None = None,
        norm_cfg: dict | None = dict(type="BN"),  # noqa: B006 - never mutated
        act_cfg: dict | None = dict(type="ReLU"),  # noqa: B006 - never mutated
        with_cp: bool = False,
        dilation: int = 1,
        adaptive_padding: bool | None = None,
    ) -> None:
        super().__init__()
        if stride not in (1, 2):
            raise ConfigError(f"InvertedResidualV3: stride must be 1 or 2, got {stride}")
        if not with_expand_conv and mid_channels != in_channels:
            raise ConfigError(f"InvertedResidualV3: without the expand conv mid_channels ({mid_channels}) must "
                              f"equal in_channels ({in_channels})")
        self.with_res_shortcut = stride == 1 and in_channels == out_channels
        self.with_cp, self.with_se, self.with_expand_conv = with_cp, se_cfg is not None, with_expand_conv
        if with_expand_conv:
            self.expand_conv = ConvModule(in_channels, mid_channels, 1, conv_cfg=conv_cfg, norm_cfg=norm_cfg,
                                          act_cfg=act_cfg)
        adaptive = stride == 2 if adaptive_padding is None else adaptive_padding
        # TF-style padding only where the block was strided in the original net; elsewhere a fixed "same" pad.
        self.depthwise_conv = ConvModule(
            mid_channels, mid_channels, kernel_size, stride=stride, padding=(kernel_size - 1) // 2 * dilation,
            dilation=dilation, groups=mid_channels,
            conv_cfg=dict(type="Conv2dAdaptivePadding") if adaptive else conv_cfg, norm_cfg=norm_cfg, act_cfg=act_cfg)
        if se_cfg is not None:
            self.se = SELayer(**se_cfg)
        self.linear_conv = ConvModule(mid_channels, out_channels, 1, conv_cfg=conv_cfg, norm_cfg=norm_cfg,
                                      act_cfg=None)

    def _inner_forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.expand_conv(x) if self.with_expand_conv else x
        out = self.depthwise_conv(out)
        if self.with_se:
            out = self.se(out)
        out = self.linear_conv(out)
        return x + out if self.with_res_shortcut else out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.with_cp and x.requires_grad:
            return cp.checkpoint(self._inner_forward, x, use_reentrant=False)
        return self._inner_forward(x)
