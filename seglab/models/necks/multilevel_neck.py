"""MultiLevelNeck: single-scale (ViT/DeiT) feature maps turned into a pyramid by rescaling, as in
MMSegmentation's ViT + UPerHead configs (ViT: https://arxiv.org/abs/2010.11929)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ...registry import MODELS, ConfigError
from ..layers import ConvModule, resize

__all__ = ["MultiLevelNeck"]


@MODELS.register_module()
class MultiLevelNeck(nn.Module):
    """1x1 lateral convs to ``out_channels``, then per scale s a bilinear resize by s and a 3x3 ConvModule.

    ``in_channels`` has one entry per input map, or a single entry that feeds every scale. Returns
    ``len(scales)`` maps (N, out_channels, h_i * s_i, w_i * s_i). Keys: ``lateral_convs.<i>.conv``,
    ``convs.<i>.conv`` (+ norms).
    """

    def __init__(
        self,
        in_channels: Sequence[int],
        out_channels: int,
        scales: Sequence[float] = (0.5, 1, 2, 4),
        norm_cfg: dict | None = None,
        act_cfg: dict | None = None,
    ) -> None:
        super().__init__()
        if not isinstance(in_channels, (list, tuple)) or not in_channels:
            raise ConfigError(f"MultiLevelNeck: in_channels must be a non-empty list of ints, got {in_channels!r}")
        if not isinstance(scales, (list, tuple)) or not scales or not all(s > 0 for s in scales):
            raise ConfigError(f"MultiLevelNeck: scales must be a non-empty list of positive numbers, got {scales!r}")
        if len(in_channels) not in (1, len(scales)):
            raise ConfigError(f"MultiLevelNeck: in_channels {list(in_channels)} must have 1 entry or one per scale "
                              f"({len(scales)} scales {list(scales)})")
        self.in_channels = list(in_channels)
        self.out_channels = out_channels
        self.scales = list(scales)
        self.num_outs = len(self.scales)
        conv_kw = dict(norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.lateral_convs = nn.ModuleList(ConvModule(c, out_channels, 1, **conv_kw) for c in self.in_channels)
        self.convs = nn.ModuleList(
            ConvModule(out_channels, out_channels, 3, padding=1, **conv_kw) for _ in range(self.num_outs)
        )
        # MMSeg initialises these convs Xavier-uniform.
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.xavier_uniform_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def forward(self, inputs: Sequence[torch.Tensor]) -> tuple[torch.Tensor, ...]:
        """``len(scales)`` maps (N, out_channels, h * s, w * s)."""
        if len(inputs) != len(self.in_channels):
            raise ValueError(f"MultiLevelNeck got {len(inputs)} feature maps but was built for "
                             f"in_channels={self.in_channels}")
        feats = [conv(inputs[i]) for i, conv in enumerate(self.lateral_convs)]
        if len(feats) == 1:
            feats = feats * self.num_outs
        return tuple(
            conv(resize(feats[i], scale_factor=self.scales[i], mode="bilinear"))
            for i, conv in enumerate(self.convs)
        )
