"""JPU neck (Joint Pyramid Upsampling) from "FastFCN: Rethinking Dilated Convolution in the Backbone for
Semantic Segmentation" (https://arxiv.org/abs/1903.11816)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ...registry import MODELS, ConfigError
from ..layers import ConvModule, DepthwiseSeparableConvModule, resize
from ..weight_init import load_pretrained

__all__ = ["JPU"]


@MODELS.register_module()
class JPU(nn.Module):
    """Joint upsampling of strided backbone levels, replacing dilated convs in the backbone.

    Levels ``start_level .. end_level-1`` (``end_level=-1``: through the last) each get a 3x3
    ConvModule to ``mid_channels`` (``conv_layers.<i>.0``), are resized to the first of them and
    concatenated; one depthwise separable 3x3 conv per dilation (``dilation_layers.<i>.0``, no
    activation after the depthwise part) runs on that and the results are concatenated.
    Returns the untouched inputs ``start_level .. end_level-2`` followed by the fused map
    (N, len(dilations) * mid_channels, h_start, w_start).
    """

    def __init__(
        self,
        in_channels: Sequence[int] = (512, 1024, 2048),
        mid_channels: int = 512,
        start_level: int = 0,
        end_level: int = -1,
        dilations: Sequence[int] = (1, 2, 4, 8),
        align_corners: bool = False,
        conv_cfg: dict | None = None,
        norm_cfg: dict | None = dict(type="BN"),  # noqa: B006 - never mutated
        act_cfg: dict | None = dict(type="ReLU"),  # noqa: B006
        init_cfg: dict | list | None = None,
    ) -> None:
        super().__init__()
        if not isinstance(in_channels, (list, tuple)) or not in_channels:
            raise ConfigError(f"JPU: in_channels must be a non-empty list/tuple of ints, got {in_channels!r}")
        if not isinstance(dilations, (list, tuple)) or not dilations or not all(
                isinstance(d, int) and d > 0 for d in dilations):
            raise ConfigError(f"JPU: dilations must be a non-empty list/tuple of positive ints, got {dilations!r}")
        self.in_channels = tuple(in_channels)
        self.mid_channels = mid_channels
        self.num_ins = len(self.in_channels)
        self.backbone_end_level = self.num_ins if end_level == -1 else end_level
        if not 0 <= start_level < self.backbone_end_level <= self.num_ins:
            raise ConfigError(f"JPU: need 0 <= start_level < end_level <= {self.num_ins} (exclusive end; -1 = all), "
                              f"got start_level={start_level}, end_level={end_level}")
        self.start_level, self.end_level = start_level, end_level
        self.dilations = tuple(dilations)
        self.align_corners = align_corners
        self.init_cfg = init_cfg
        n_levels = self.backbone_end_level - start_level
        self.conv_layers = nn.ModuleList(
            nn.Sequential(ConvModule(self.in_channels[i], mid_channels, 3, padding=1, conv_cfg=conv_cfg,
                                     norm_cfg=norm_cfg, act_cfg=act_cfg))
            for i in range(start_level, self.backbone_end_level)
        )
        self.dilation_layers = nn.ModuleList(
            nn.Sequential(DepthwiseSeparableConvModule(
                n_levels * mid_channels, mid_channels, 3, stride=1, padding=d, dilation=d,
                dw_norm_cfg=norm_cfg, dw_act_cfg=None, pw_norm_cfg=norm_cfg, pw_act_cfg=act_cfg))
            for d in self.dilations
        )
        # Channels of each output map, so a head's in_channels can be checked against them.
        self.out_channels = [self.in_channels[i] for i in range(start_level, self.backbone_end_level - 1)]
        self.out_channels.append(len(self.dilations) * mid_channels)

    def init_weights(self) -> bool:
        """Load ``init_cfg`` Pretrained weights, if configured (the constructor did the default init)."""
        return load_pretrained(self, self.init_cfg)

    def forward(self, inputs: Sequence[torch.Tensor]) -> tuple[torch.Tensor, ...]:
        """The passed-through inputs, then the fused map (N, len(dilations) * mid_channels, h, w)."""
        if len(inputs) != self.num_ins:
            raise ValueError(f"JPU got {len(inputs)} feature maps but was built for in_channels={list(self.in_channels)}")
        feats = [conv(inputs[self.start_level + i]) for i, conv in enumerate(self.conv_layers)]
        size = feats[0].shape[2:]
        feats = [feats[0]] + [resize(f, size=size, mode="bilinear", align_corners=self.align_corners) for f in feats[1:]]
        feat = torch.cat(feats, dim=1)
        fused = torch.cat([layer(feat) for layer in self.dilation_layers], dim=1)
        return (*inputs[self.start_level:self.backbone_end_level - 1], fused)
