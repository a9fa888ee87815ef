"""FCNHead from "Fully Convolutional Networks for Semantic Segmentation" (https://arxiv.org/abs/1411.4038)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ...registry import MODELS, ConfigError
from ..layers import ConvModule
from .decode_head import BaseDecodeHead

__all__ = ["FCNHead"]


@MODELS.register_module()
class FCNHead(BaseDecodeHead):
    """``num_convs`` conv-norm-act layers, optionally concatenated with the input and fused by ``conv_cat``.

    ``num_convs=0`` makes the conv stack the identity (then ``in_channels`` must equal ``channels``).
    Other arguments are those of :class:`BaseDecodeHead`.
    """

    def __init__(
        self, num_convs: int = 2, kernel_size: int = 3, concat_input: bool = True, dilation: int = 1, **kwargs
    ) -> None:
        if not isinstance(num_convs, int) or num_convs < 0:
            raise ConfigError(f"FCNHead: num_convs must be an int >= 0, got {num_convs!r}")
        if not isinstance(dilation, int) or dilation < 1:
            raise ConfigError(f"FCNHead: dilation must be an int >= 1, got {dilation!r}")
        self.num_convs, self.concat_input, self.kernel_size = num_convs, concat_input, kernel_size
        super().__init__(**kwargs)
        if num_convs == 0 and self.in_channels != self.channels:
            raise ConfigError(
                f"FCNHead with num_convs=0 passes features through unchanged, so in_channels "
                f"({self.in_channels}) must equal channels ({self.channels})"
            )
        conv_kw = dict(conv_cfg=self.conv_cfg, norm_cfg=self.norm_cfg, act_cfg=self.act_cfg)
        padding = (kernel_size // 2) * dilation
        if num_convs == 0:
            self.convs: nn.Module = nn.Identity()
        else:
            layers = [
                ConvModule(
                    self.in_channels if i == 0 else self.channels,
                    self.channels,
                    kernel_size,
                    padding=padding,
                    dilation=dilation,
                    **conv_kw,
                )
                for i in range(num_convs)
            ]
            self.convs = nn.Sequential(*layers)
        if concat_input:
            self.conv_cat = ConvModule(
                self.in_channels + self.channels, self.channels, kernel_size, padding=kernel_size // 2, **conv_kw
            )

    def _forward_feature(self, inputs: Sequence[torch.Tensor]) -> torch.Tensor:
        """Features before the classifier: (N, channels, h, w)."""
        x = self._transform_inputs(inputs)
        feats = self.convs(x)
        if self.concat_input:
            feats = self.conv_cat(torch.cat([x, feats], dim=1))
        return feats

    def forward(self, inputs: Sequence[torch.Tensor]) -> torch.Tensor:
        """Logits (N, out_channels, h, w)."""
        return self.cls_seg(self._forward_feature(inputs))
