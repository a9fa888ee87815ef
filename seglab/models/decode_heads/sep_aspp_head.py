"""DepthwiseSeparableASPPHead (DeepLabV3+) from "Encoder-Decoder with Atrous Separable Convolution for
Semantic Image Segmentation" (https://arxiv.org/abs/1802.02611)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ...registry import MODELS, ConfigError
from ..layers import ConvModule, DepthwiseSeparableConvModule, resize
from .aspp_head import ASPPHead, ASPPModule

__all__ = ["DepthwiseSeparableASPPHead"]


@MODELS.register_module()
class DepthwiseSeparableASPPHead(ASPPHead):
    """ASPP with depthwise separable atrous branches, then a decoder that fuses low-level features.

    The ASPP output is upsampled to ``inputs[0]`` (the stride-4 backbone feature), concatenated with
    its 1x1 projection to ``c1_channels`` (``c1_bottleneck``; skipped when ``c1_in_channels`` is 0)
    and refined by two separable 3x3 convs (``sep_bottleneck.0/1``). Other arguments are those of
    :class:`ASPPHead`.
    """

    def __init__(self, c1_in_channels: int, c1_channels: int, **kwargs) -> None:
        super().__init__(**kwargs)
        if not isinstance(c1_in_channels, int) or c1_in_channels < 0:
            raise ConfigError(f"DepthwiseSeparableASPPHead: c1_in_channels must be an int >= 0, got {c1_in_channels!r}")
        if c1_in_channels == 0 and c1_channels != 0:
            raise ConfigError("DepthwiseSeparableASPPHead: c1_in_channels=0 disables the low-level branch, "
                              f"so c1_channels must be 0 too, got {c1_channels}")
        conv_kw = dict(conv_cfg=self.conv_cfg, norm_cfg=self.norm_cfg, act_cfg=self.act_cfg)
        # Replacing the registered attribute keeps its position, so the state-dict order matches MMSeg.
        self.aspp_modules = ASPPModule(self.dilations, self.in_channels, self.channels, separable=True, **conv_kw)
        self.c1_bottleneck = ConvModule(c1_in_channels, c1_channels, 1, **conv_kw) if c1_in_channels > 0 else None
        sep_kw = dict(norm_cfg=self.norm_cfg, act_cfg=self.act_cfg)
        self.sep_bottleneck = nn.Sequential(
            DepthwiseSeparableConvModule(self.channels + c1_channels, self.channels, 3, padding=1, **sep_kw),
            DepthwiseSeparableConvModule(self.channels, self.channels, 3, padding=1, **sep_kw),
        )

    def _forward_feature(self, inputs: Sequence[torch.Tensor]) -> torch.Tensor:
        """Decoder features before the classifier: (N, channels, h0, w0), the size of ``inputs[0]``."""
        out = self._aspp(self._transform_inputs(inputs))
        if self.c1_bottleneck is not None:
            low = self.c1_bottleneck(inputs[0])
            out = resize(out, size=low.shape[2:], mode="bilinear", align_corners=self.align_corners)
            out = torch.cat([out, low], dim=1)
        return self.sep_bottleneck(out)
