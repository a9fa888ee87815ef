"""UPerHead from "Unified Perceptual Parsing for Scene Understanding" (https://arxiv.org/abs/1807.10221)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ...registry import MODELS
from ..layers import ConvModule, resize
from .decode_head import BaseDecodeHead
from .psp_head import PPM, check_pool_scales

__all__ = ["UPerHead"]


@MODELS.register_module()
class UPerHead(BaseDecodeHead):
    """A PPM on the deepest feature plus an FPN over the others, fused at the finest resolution.

    Reads all ``in_channels`` levels (``input_transform='multiple_select'``). Keys: ``psp_modules``,
    ``bottleneck`` (after the PPM), ``lateral_convs.<i>``/``fpn_convs.<i>`` (one per level but the
    last), ``fpn_bottleneck``, ``conv_seg``. Other arguments are those of :class:`BaseDecodeHead`.
    """

    def __init__(self, pool_scales: Sequence[int] = (1, 2, 3, 6), **kwargs) -> None:
        kwargs.setdefault("input_transform", "multiple_select")
        super().__init__(**kwargs)
        self.pool_scales = check_pool_scales(pool_scales, type(self).__name__)
        conv_kw = dict(conv_cfg=self.conv_cfg, norm_cfg=self.norm_cfg, act_cfg=self.act_cfg)
        in_channels: list[int] = list(self.in_channels) if isinstance(self.in_channels, list) else [self.in_channels]
        self.psp_modules = PPM(self.pool_scales, in_channels[-1], self.channels,
                               align_corners=self.align_corners, **conv_kw)
        self.bottleneck = ConvModule(in_channels[-1] + len(self.pool_scales) * self.channels, self.channels, 3,
                                     padding=1, **conv_kw)
        # inplace=False: laterals are summed with upsampled maps afterwards, so ReLU must not overwrite them.
        self.lateral_convs = nn.ModuleList(
            ConvModule(c, self.channels, 1, inplace=False, **conv_kw) for c in in_channels[:-1]
        )
        self.fpn_convs = nn.ModuleList(
            ConvModule(self.channels, self.channels, 3, padding=1, inplace=False, **conv_kw) for _ in in_channels[:-1]
        )
        self.fpn_bottleneck = ConvModule(len(in_channels) * self.channels, self.channels, 3, padding=1, **conv_kw)

    def psp_forward(self, inputs: Sequence[torch.Tensor]) -> torch.Tensor:
        """PPM on the deepest level: (N, channels, h_last, w_last)."""
        x = inputs[-1]
        return self.bottleneck(torch.cat([x, *self.psp_modules(x)], dim=1))

    def _forward_feature(self, inputs: Sequence[torch.Tensor]) -> torch.Tensor:
        """Fused features before the classifier: (N, channels, h0, w0), the size of the finest level."""
        inputs = self._transform_inputs(inputs)
        if not isinstance(inputs, (list, tuple)):
            inputs = [inputs]
        laterals = [conv(inputs[i]) for i, conv in enumerate(self.lateral_convs)]
        laterals.append(self.psp_forward(inputs))
        # Top-down pathway: each level gets the upsampled sum of the coarser ones.
        for i in range(len(laterals) - 1, 0, -1):
            laterals[i - 1] = laterals[i - 1] + resize(
                laterals[i], size=laterals[i - 1].shape[2:], mode="bilinear", align_corners=self.align_corners
            )
        outs = [conv(laterals[i]) for i, conv in enumerate(self.fpn_convs)] + [laterals[-1]]
        size = outs[0].shape[2:]
        outs = [outs[0]] + [resize(o, size=size, mode="bilinear", align_corners=self.align_corners) for o in outs[1:]]
        return self.fpn_bottleneck(torch.cat(outs, dim=1))

    def forward(self, inputs: Sequence[torch.Tensor]) -> torch.Tensor:
        """Logits (N, out_channels, h0, w0)."""
        return self.cls_seg(self._forward_feature(inputs))
