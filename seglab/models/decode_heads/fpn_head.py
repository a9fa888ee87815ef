"""FPNHead (Semantic FPN) from "Panoptic Feature Pyramid Networks" (https://arxiv.org/abs/1901.02446)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from ...registry import MODELS, ConfigError
from ..layers import ConvModule, Upsample, resize
from .decode_head import BaseDecodeHead

__all__ = ["FPNHead"]


@MODELS.register_module()
class FPNHead(BaseDecodeHead):
    """Each pyramid level is brought to the finest stride by conv+2x-upsample stages, then summed.

    Level i with stride s_i gets ``max(1, log2(s_i / s_0))`` 3x3 ConvModules, each followed by a 2x
    bilinear upsample when s_i > s_0 (keys ``scale_heads.<i>.<j>``; the upsamples take indices too).
    Reads all ``in_channels`` levels (``input_transform='multiple_select'``). Other arguments are
    those of :class:`BaseDecodeHead`.
    """

    def __init__(self, feature_strides: Sequence[int], **kwargs) -> None:
        kwargs.setdefault("input_transform", "multiple_select")
        super().__init__(**kwargs)
        in_channels = self.in_channels if isinstance(self.in_channels, list) else [self.in_channels]
        if not isinstance(feature_strides, (list, tuple)) or len(feature_strides) != len(in_channels):
            raise ConfigError(f"FPNHead: feature_strides {feature_strides!r} needs one stride per in_channels "
                              f"entry {in_channels}")
        if min(feature_strides) != feature_strides[0]:
            raise ConfigError(f"FPNHead: the first feature stride must be the smallest, got {list(feature_strides)}")
        self.feature_strides = tuple(feature_strides)
        conv_kw = dict(conv_cfg=self.conv_cfg, norm_cfg=self.norm_cfg, act_cfg=self.act_cfg)
        self.scale_heads = nn.ModuleList()
        for i, stride in enumerate(self.feature_strides):
            n_stages = max(1, int(math.log2(stride) - math.log2(self.feature_strides[0])))
            layers: list[nn.Module] = []
            for k in range(n_stages):
                layers.append(ConvModule(in_channels[i] if k == 0 else self.channels, self.channels, 3, padding=1,
                                         **conv_kw))
                if stride != self.feature_strides[0]:
                    layers.append(Upsample(scale_factor=2, mode="bilinear", align_corners=self.align_corners))
            self.scale_heads.append(nn.Sequential(*layers))

    def _forward_feature(self, inputs: Sequence[torch.Tensor]) -> torch.Tensor:
        """Summed features before the classifier: (N, channels, h0, w0)."""
        x = self._transform_inputs(inputs)
        if not isinstance(x, (list, tuple)):
            x = [x]
        out = self.scale_heads[0](x[0])
        for i in range(1, len(self.feature_strides)):
            # The upsample stages give the right size for exact strides; resize covers odd input sizes.
            out = out + resize(self.scale_heads[i](x[i]), size=out.shape[2:], mode="bilinear",
                               align_corners=self.align_corners)
        return out

    def forward(self, inputs: Sequence[torch.Tensor]) -> torch.Tensor:
        """Logits (N, out_channels, h0, w0)."""
        return self.cls_seg(self._forward_feature(inputs))
