"""ASPPHead (DeepLabV3) from "Rethinking Atrous Convolution for Semantic Image Segmentation"
(https://arxiv.org/abs/1706.05587).

Also home of :class:`ASPPModule`, the parallel atrous branches shared with DeepLabV3+.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ...registry import MODELS, ConfigError
from ..layers import ConvModule, DepthwiseSeparableConvModule, resize
from .decode_head import BaseDecodeHead

__all__ = ["ASPPHead", "ASPPModule"]


def check_dilations(dilations: Sequence[int], owner: str) -> tuple[int, ...]:
    """Validate ``dilations`` (a non-empty list of positive ints) and return it as a tuple."""
    if not isinstance(dilations, (list, tuple)) or not dilations:
        raise ConfigError(f"{owner}: dilations must be a non-empty list/tuple of ints, got {dilations!r}")
    if not all(isinstance(d, int) and d > 0 for d in dilations):
        raise ConfigError(f"{owner}: every dilation must be a positive int, got {dilations!r}")
    return tuple(dilations)


class ASPPModule(nn.ModuleList):
    """Atrous spatial pyramid pooling branches: a 1x1 conv for dilation 1, a dilated 3x3 conv otherwise.

    With ``separable=True`` (DeepLabV3+) the dilated branches are depthwise separable convs (keys
    ``<i>.depthwise_conv``/``<i>.pointwise_conv``). ``forward(x: (N, in_channels, H, W))`` returns one
    (N, channels, H, W) map per dilation.
    """

    def __init__(
        self,
        dilations: Sequence[int],
        in_channels: int,
        channels: int,
        conv_cfg: dict | None,
        norm_cfg: dict | None,
        act_cfg: dict | None,
        separable: bool = False,
    ) -> None:
        super().__init__()
        self.dilations = check_dilations(dilations, "ASPPModule")
        self.in_channels, self.channels = in_channels, channels
        for d in self.dilations:
            if d > 1 and separable:
                branch: nn.Module = DepthwiseSeparableConvModule(
                    in_channels, channels, 3, dilation=d, padding=d, norm_cfg=norm_cfg, act_cfg=act_cfg
                )
            else:
                branch = ConvModule(
                    in_channels, channels, 1 if d == 1 else 3, dilation=d, padding=0 if d == 1 else d,
                    conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=act_cfg,
                )
            self.append(branch)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """One (N, channels, H, W) map per dilation."""
        return [branch(x) for branch in self]


@MODELS.register_module()
class ASPPHead(BaseDecodeHead):
    """Image-level pooling plus parallel atrous convs, concatenated and fused by a 3x3 ``bottleneck``.

    Keys: ``image_pool.1.conv``, ``aspp_modules.<i>.conv``, ``bottleneck.conv`` (+ norms),
    ``conv_seg``. Other arguments are those of :class:`BaseDecodeHead`.
    """

    def __init__(self, dilations: Sequence[int] = (1, 6, 12, 18), **kwargs) -> None:
        super().__init__(**kwargs)
        self.dilations = check_dilations(dilations, type(self).__name__)
        conv_kw = dict(conv_cfg=self.conv_cfg, norm_cfg=self.norm_cfg, act_cfg=self.act_cfg)
        self.image_pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), ConvModule(self.in_channels, self.channels, 1, **conv_kw))
        self.aspp_modules = ASPPModule(self.dilations, self.in_channels, self.channels, **conv_kw)
        self.bottleneck = ConvModule((len(self.dilations) + 1) * self.channels, self.channels, 3, padding=1, **conv_kw)

    def _aspp(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled and atrous branches of x (N, in_channels, h, w), fused: (N, channels, h, w)."""
        pooled = resize(self.image_pool(x), size=x.shape[2:], mode="bilinear", align_corners=self.align_corners)
        return self.bottleneck(torch.cat([pooled, *self.aspp_modules(x)], dim=1))

    def _forward_feature(self, inputs: Sequence[torch.Tensor]) -> torch.Tensor:
        """Features before the classifier: (N, channels, h, w)."""
        return self._aspp(self._transform_inputs(inputs))

    def forward(self, inputs: Sequence[torch.Tensor]) -> torch.Tensor:
        """Logits (N, out_channels, h, w)."""
        return self.cls_seg(self._forward_feature(inputs))
