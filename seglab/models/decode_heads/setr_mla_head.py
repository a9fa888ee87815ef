"""SETRMLAHead from "Rethinking Semantic Segmentation from a Sequence-to-Sequence Perspective with
Transformers" (https://arxiv.org/abs/2012.15840): the multi-level feature aggregation (MLA) decoder.

Keys: ``up_convs.<i>.{0,1}.conv/bn`` (two ConvModules per input level), ``conv_seg``.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ...registry import MODELS, ConfigError
from ..layers import ConvModule, Upsample
from .decode_head import BaseDecodeHead

__all__ = ["SETRMLAHead"]


@MODELS.register_module()
class SETRMLAHead(BaseDecodeHead):
    """Per level two 3x3 conv-norm-act to ``mla_channels`` and a bilinear ``up_scale`` upsample; concat; classify.

    Inputs: the ``in_index`` maps (N, in_channels[i], h, w) -> logits (N, num_classes, h*up_scale, w*up_scale).
    ``channels`` must be ``len(in_channels) * mla_channels``. ``input_transform`` is always 'multiple_select'.
    """

    def __init__(self, mla_channels: int = 128, up_scale: int = 4, **kwargs) -> None:
        if kwargs.pop("input_transform", "multiple_select") != "multiple_select":
            raise ConfigError("SETRMLAHead always reads several maps: input_transform must be 'multiple_select'")
        super().__init__(input_transform="multiple_select", **kwargs)
        self.mla_channels = mla_channels
        num_inputs = len(self.in_channels)
        if self.channels != num_inputs * mla_channels:
            raise ConfigError(f"SETRMLAHead: channels ({self.channels}) must equal len(in_channels) * mla_channels "
                              f"({num_inputs} * {mla_channels} = {num_inputs * mla_channels})")
        conv_kw = dict(kernel_size=3, padding=1, norm_cfg=self.norm_cfg, act_cfg=self.act_cfg)
        self.up_convs = nn.ModuleList([
            nn.Sequential(ConvModule(self.in_channels[i], mla_channels, **conv_kw),
                          ConvModule(mla_channels, mla_channels, **conv_kw),
                          Upsample(scale_factor=up_scale, mode="bilinear", align_corners=self.align_corners))
            for i in range(num_inputs)
        ])

    def forward(self, inputs: Sequence[torch.Tensor]) -> torch.Tensor:
        """Logits (N, out_channels, h*up_scale, w*up_scale)."""
        maps = self._transform_inputs(inputs)
        return self.cls_seg(torch.cat([up(x) for x, up in zip(maps, self.up_convs)], dim=1))
