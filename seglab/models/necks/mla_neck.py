"""MLANeck from "Rethinking Semantic Segmentation from a Sequence-to-Sequence Perspective with Transformers"
(https://arxiv.org/abs/2012.15840): multi-level aggregation of ViT layer outputs for SETR-MLA.

Keys: ``norm.<i>`` (LayerNorm per input), ``mla.channel_proj.<i>`` (1x1 ConvModule),
``mla.feat_extract.<i>`` (3x3 ConvModule).
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ...registry import MODELS, ConfigError
from ..layers import ConvModule
from ..layers.norm import build_norm_layer

__all__ = ["MLAModule", "MLANeck"]


class MLAModule(nn.Module):
    """1x1 projections, a top-down running sum from the last input, then a 3x3 conv per sum.

    Maps (N, in_channels[i], h, w) -> tuple of (N, out_channels, h, w), ordered from the last input's sum.
    """

    def __init__(self, in_channels: Sequence[int] = (1024, 1024, 1024, 1024), out_channels: int = 256,
                 norm_cfg: dict | None = None, act_cfg: dict | None = None) -> None:
        super().__init__()
        self.channel_proj = nn.ModuleList([
            ConvModule(c, out_channels, kernel_size=1, norm_cfg=norm_cfg, act_cfg=act_cfg) for c in in_channels])
        self.feat_extract = nn.ModuleList([
            ConvModule(out_channels, out_channels, kernel_size=3, padding=1, norm_cfg=norm_cfg, act_cfg=act_cfg)
            for _ in in_channels])

    def forward(self, inputs: Sequence[torch.Tensor]) -> tuple[torch.Tensor, ...]:
        """Maps (N, in_channels[i], h, w) -> tuple of (N, out_channels, h, w)."""
        feats = [conv(x) for x, conv in zip(inputs, self.channel_proj)][::-1]
        sums = [feats[0]]
        for feat in feats[1:]:
            sums.append(sums[-1] + feat)
        return tuple(conv(s) for s, conv in zip(sums, self.feat_extract))


@MODELS.register_module()
class MLANeck(nn.Module):
    """LayerNorm each input map over channels, then :class:`MLAModule`.

    ``inputs``: one (N, in_channels[i], h, w) map per entry of ``in_channels`` (same h, w) ->
    tuple of ``len(in_channels)`` maps (N, out_channels, h, w).
    """

    def __init__(self, in_channels: Sequence[int], out_channels: int,
                 norm_layer: dict = dict(type="LN", eps=1e-6, requires_grad=True),  # noqa: B006 - never mutated
                 norm_cfg: dict | None = None, act_cfg: dict | None = None) -> None:
        super().__init__()
        if not isinstance(in_channels, (list, tuple)):
            raise ConfigError(f"MLANeck: in_channels must be a list of channels per input, got {in_channels!r}")
        self.in_channels = list(in_channels)
        self.out_channels = out_channels
        self.norm = nn.ModuleList([build_norm_layer(norm_layer, c)[1] for c in self.in_channels])
        self.mla = MLAModule(self.in_channels, out_channels, norm_cfg=norm_cfg, act_cfg=act_cfg)

    def forward(self, inputs: Sequence[torch.Tensor]) -> tuple[torch.Tensor, ...]:
        """Maps (N, in_channels[i], h, w) -> tuple of (N, out_channels, h, w)."""
        if len(inputs) != len(self.in_channels):
            raise ValueError(f"MLANeck: expected {len(self.in_channels)} input maps, got {len(inputs)}")
        outs = []
        for x, norm in zip(inputs, self.norm):
            n, c, h, w = x.shape
            outs.append(norm(x.reshape(n, c, h * w).transpose(1, 2)).transpose(1, 2).reshape(n, c, h, w))
        return self.mla(outs)
