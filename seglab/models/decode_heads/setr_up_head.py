"""SETRUPHead from "Rethinking Semantic Segmentation from a Sequence-to-Sequence Perspective with
Transformers" (https://arxiv.org/abs/2012.15840): SETR-Naive (one conv, ``up_scale`` to the output) and
SETR-PUP (progressive upsampling: ``num_convs`` conv + 2x upsample steps).

Keys: ``norm.{weight,bias}`` (LayerNorm over channels), ``up_convs.<i>.0.conv/bn`` (ConvModule; the
``.1`` Upsample has no weights), ``conv_seg``.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ...registry import MODELS, ConfigError
from ..layers import ConvModule, Upsample
from ..layers.norm import build_norm_layer
from .decode_head import BaseDecodeHead

__all__ = ["SETRUPHead"]


@MODELS.register_module()
class SETRUPHead(BaseDecodeHead):
    """LayerNorm the token map, then ``num_convs`` x (conv-norm-act, bilinear upsample by ``up_scale``).

    Input map (N, in_channels, h, w) -> logits (N, num_classes, h * up_scale**num_convs, ...).
    ``kernel_size`` is 1 or 3. Other arguments are those of :class:`BaseDecodeHead`.
    """

    def __init__(
        self,
        norm_layer: dict = dict(type="LN", eps=1e-6, requires_grad=True),  # noqa: B006 - never mutated
        num_convs: int = 1,
        up_scale: int = 4,
        kernel_size: int = 3,
        init_cfg: dict | list | None = None,
        **kwargs,
    ) -> None:
        if kernel_size not in (1, 3):
            raise ConfigError(f"SETRUPHead: kernel_size must be 1 or 3, got {kernel_size}")
        super().__init__(init_cfg=init_cfg, **kwargs)
        if not isinstance(self.in_channels, int):
            raise ConfigError(f"SETRUPHead reads one map: in_channels must be an int, got {self.in_channels!r}")
        self.norm = build_norm_layer(norm_layer, self.in_channels)[1]
        self.up_convs = nn.ModuleList()
        in_channels = self.in_channels
        for _ in range(num_convs):
            self.up_convs.append(nn.Sequential(
                ConvModule(in_channels, self.channels, kernel_size, stride=1, padding=(kernel_size - 1) // 2,
                           norm_cfg=self.norm_cfg, act_cfg=self.act_cfg),
                Upsample(scale_factor=up_scale, mode="bilinear", align_corners=self.align_corners)))
            in_channels = self.channels

    def forward(self, inputs: Sequence[torch.Tensor]) -> torch.Tensor:
        """Logits (N, out_channels, H, W) from the selected map."""
        x = self._transform_inputs(inputs)
        n, c, h, w = x.shape
        x = self.norm(x.reshape(n, c, h * w).transpose(1, 2)).transpose(1, 2).reshape(n, c, h, w)
        for up_conv in self.up_convs:
            x = up_conv(x)
        return self.cls_seg(x)
