"""SegformerHead, the all-MLP decoder of "SegFormer: Simple and Efficient Design for Semantic Segmentation
with Transformers" (https://arxiv.org/abs/2105.15203).

Keys: ``convs.<i>`` (one 1x1 ConvModule per input level), ``fusion_conv``, ``conv_seg``.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ...registry import MODELS, ConfigError
from ..layers import ConvModule, resize
from .decode_head import BaseDecodeHead

__all__ = ["SegformerHead"]


@MODELS.register_module()
class SegformerHead(BaseDecodeHead):
    """Project every level to ``channels`` (1x1 conv-norm-act), resize all to the first level's size with
    ``interpolate_mode``, concatenate, fuse with a 1x1 conv-norm-act, classify.

    Reads the levels ``in_index`` (``input_transform='multiple_select'``); other arguments are those of
    :class:`BaseDecodeHead`. Output: (N, out_channels, h0, w0).
    """

    def __init__(self, interpolate_mode: str = "bilinear", **kwargs) -> None:
        transform = kwargs.pop("input_transform", "multiple_select")
        if transform != "multiple_select":
            raise ConfigError(f"SegformerHead reads several levels: input_transform must be 'multiple_select', "
                              f"got {transform!r}")
        super().__init__(input_transform="multiple_select", **kwargs)
        self.interpolate_mode = interpolate_mode
        conv_kw = dict(norm_cfg=self.norm_cfg, act_cfg=self.act_cfg)
        self.convs = nn.ModuleList([ConvModule(c, self.channels, 1, **conv_kw) for c in self.in_channels])
        self.fusion_conv = ConvModule(self.channels * len(self.in_channels), self.channels, 1, norm_cfg=self.norm_cfg)

    def forward(self, inputs: Sequence[torch.Tensor]) -> torch.Tensor:
        """Levels (N, C_i, h_i, w_i) -> logits (N, out_channels, h0, w0)."""
        levels = self._transform_inputs(inputs)
        size = levels[0].shape[2:]
        outs = [resize(conv(x), size=size, mode=self.interpolate_mode, align_corners=self.align_corners)
                for conv, x in zip(self.convs, levels)]
        return self.cls_seg(self.fusion_conv(torch.cat(outs, dim=1)))
