"""DMHead from "Dynamic Multi-scale Filters for Semantic Segmentation" (He et al., ICCV 2019,
https://openaccess.thecvf.com/content_ICCV_2019/papers/He_Dynamic_Multi-Scale_Filters_for_Semantic_Segmentation_ICCV_2019_paper.pdf)."""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ...registry import MODELS, ConfigError
from ..layers import ConvModule, build_activation_layer, build_norm_layer
from .decode_head import BaseDecodeHead

__all__ = ["DCM", "DMHead"]


class DCM(nn.Module):
    """Dynamic convolutional module: a per-image, per-channel ``filter_size`` x ``filter_size`` depthwise
    filter (pooled from the input) convolves the reduced features; (N, C_in, H, W) -> (N, C, H, W)."""

    def __init__(self, filter_size: int, fusion: bool, in_channels: int, channels: int, conv_cfg: dict | None,
                 norm_cfg: dict | None, act_cfg: dict | None) -> None:
        super().__init__()
        self.filter_size, self.fusion = filter_size, fusion
        self.in_channels, self.channels = in_channels, channels
        self.filter_gen_conv = nn.Conv2d(in_channels, channels, 1, 1, 0)
        self.input_redu_conv = ConvModule(in_channels, channels, 1, conv_cfg=conv_cfg, norm_cfg=norm_cfg,
                                          act_cfg=act_cfg)
        self.norm = build_norm_layer(norm_cfg, channels)[1] if norm_cfg is not None else None
        self.activate = build_activation_layer(act_cfg)
        if fusion:
            self.fusion_conv = ConvModule(channels, channels, 1, conv_cfg=conv_cfg, norm_cfg=norm_cfg,
                                          act_cfg=act_cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        filters = self.filter_gen_conv(F.adaptive_avg_pool2d(x, self.filter_size))
        x = self.input_redu_conv(x)
        n, c, h, w = x.shape
        k = self.filter_size
        pad = (k - 1) // 2
        # Even sizes pad one more on the left/top so the output keeps (h, w).
        p2d = (pad, pad, pad, pad) if (k - 1) % 2 == 0 else (pad + 1, pad, pad + 1, pad)
        # All images as groups of one grouped conv: (1, N*C, H, W) with N*C filters of (1, k, k).
        out = F.conv2d(F.pad(x.reshape(1, n * c, h, w), p2d), filters.reshape(n * c, 1, k, k), groups=n * c)
        out = out.reshape(n, c, h, w)
        if self.norm is not None:
            out = self.norm(out)
        out = self.activate(out)
        return self.fusion_conv(out) if self.fusion else out


@MODELS.register_module()
class DMHead(BaseDecodeHead):
    """One DCM per filter size, concatenated with the input, fused by a 3x3 ``bottleneck``.

    Args:
        filter_sizes: sizes of the generated filters.
        fusion: add a 1x1 ``fusion_conv`` at the end of each DCM.
        Other arguments are those of :class:`BaseDecodeHead`.
    """

    def __init__(self, filter_sizes: Sequence[int] = (1, 3, 5, 7), fusion: bool = False, **kwargs) -> None:
        super().__init__(**kwargs)
        if not isinstance(filter_sizes, (list, tuple)):
            raise ConfigError(f"DMHead: filter_sizes must be a list or tuple, got {filter_sizes!r}")
        self.filter_sizes, self.fusion = filter_sizes, fusion
        layer_cfg = dict(conv_cfg=self.conv_cfg, norm_cfg=self.norm_cfg, act_cfg=self.act_cfg)
        self.dcm_modules = nn.ModuleList(
            [DCM(k, fusion, self.in_channels, self.channels, **layer_cfg) for k in filter_sizes])
        self.bottleneck = ConvModule(self.in_channels + len(filter_sizes) * self.channels, self.channels, 3,
                                     padding=1, **layer_cfg)

    def forward(self, inputs: Sequence[torch.Tensor]) -> torch.Tensor:
        """Logits (N, out_channels, h, w)."""
        x = self._transform_inputs(inputs)
        out = self.bottleneck(torch.cat([x] + [dcm(x) for dcm in self.dcm_modules], dim=1))
        return self.cls_seg(out)
