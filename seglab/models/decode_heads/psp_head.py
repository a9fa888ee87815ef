"""PSPHead from "Pyramid Scene Parsing Network" (https://arxiv.org/abs/1612.01105).

Also home of :class:`PPM`, the pyramid pooling module that UPerHead reuses.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ...registry import MODELS, ConfigError
from ..layers import ConvModule, resize
from .decode_head import BaseDecodeHead

__all__ = ["PPM", "PSPHead"]


def check_pool_scales(pool_scales: Sequence[int], owner: str) -> tuple[int, ...]:
    """Validate ``pool_scales`` (a non-empty list of positive ints) and return it as a tuple."""
    if not isinstance(pool_scales, (list, tuple)) or not pool_scales:
        raise ConfigError(f"{owner}: pool_scales must be a non-empty list/tuple of ints, got {pool_scales!r}")
    if not all(isinstance(s, int) and s > 0 for s in pool_scales):
        raise ConfigError(f"{owner}: every pool scale must be a positive int, got {pool_scales!r}")
    return tuple(pool_scales)


class PPM(nn.ModuleList):
    """Pyramid pooling: per scale s, adaptive average pool to (s, s) then a 1x1 ConvModule.

    ``forward(x: (N, in_channels, H, W))`` returns one (N, channels, H, W) map per scale, each
    upsampled back to the input size. Keys: ``<i>.1.conv``/``<i>.1.bn`` (index 0 is the pool).
    """

    def __init__(
        self,
        pool_scales: Sequence[int],
        in_channels: int,
        channels: int,
        conv_cfg: dict | None,
        norm_cfg: dict | None,
        act_cfg: dict | None,
        align_corners: bool,
    ) -> None:
        super().__init__()
        self.pool_scales = check_pool_scales(pool_scales, "PPM")
        self.align_corners = align_corners
        self.in_channels, self.channels = in_channels, channels
        for scale in self.pool_scales:
            self.append(
                nn.Sequential(
                    nn.AdaptiveAvgPool2d(scale),
                    ConvModule(in_channels, channels, 1, conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=act_cfg),
                )
            )

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """One (N, channels, H, W) map per pool scale."""
        return [
            resize(stage(x), size=x.shape[2:], mode="bilinear", align_corners=self.align_corners)
            for stage in self
        ]


@MODELS.register_module()
class PSPHead(BaseDecodeHead):
    """The input concatenated with its pyramid-pooled context, fused by a 3x3 ``bottleneck``.

    Keys: ``psp_modules.<i>.1.conv``/``.bn``, ``bottleneck.conv``/``.bn``, ``conv_seg``. Other
    arguments are those of :class:`BaseDecodeHead`.
    """

    def __init__(self, pool_scales: Sequence[int] = (1, 2, 3, 6), **kwargs) -> None:
        super().__init__(**kwargs)
        self.pool_scales = check_pool_scales(pool_scales, type(self).__name__)
        self.psp_modules = PPM(
            self.pool_scales, self.in_channels, self.channels, conv_cfg=self.conv_cfg,
            norm_cfg=self.norm_cfg, act_cfg=self.act_cfg, align_corners=self.align_corners,
        )
        self.bottleneck = ConvModule(
            self.in_channels + len(self.pool_scales) * self.channels, self.channels, 3, padding=1,
            conv_cfg=self.conv_cfg, norm_cfg=self.norm_cfg, act_cfg=self.act_cfg,
        )

    def _forward_feature(self, inputs: Sequence[torch.Tensor]) -> torch.Tensor:
        """Fused features before the classifier: (N, channels, h, w)."""
        x = self._transform_inputs(inputs)
        return self.bottleneck(torch.cat([x, *self.psp_modules(x)], dim=1))

    def forward(self, inputs: Sequence[torch.Tensor]) -> torch.Tensor:
        """Logits (N, out_channels, h, w)."""
        return self.cls_seg(self._forward_feature(inputs))
