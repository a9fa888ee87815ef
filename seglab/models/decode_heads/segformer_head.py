"""SegformerHead, the all-MLP decoder of "SegFormer: Simple and Efficient Design for Semantic Segmentation
with Transformers" (https://arxiv.org/abs/2105.15203).

Keys: ``convs.<i>`` (one 1x1 ConvModule per input level), ``fusion_conv``, ``conv_seg``.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from ...registry import MODELS, ConfigError
from ..conv_paths import plain_weight
from ..fuse import applied_weight_bias
from ..layers import ConvModule, resize
from .decode_head import BaseDecodeHead

__all__ = ["SegformerHead"]


@MODELS.register_module()
class SegformerHead(BaseDecodeHead):
    """Project every level to ``channels`` (1x1 conv-norm-act), resize all to the first level's size with
    ``interpolate_mode``, concatenate, fuse with a 1x1 conv-norm-act, classify.

    Reads the levels ``in_index`` (``input_transform='multiple_select'``); other arguments are those of
    :class:`BaseDecodeHead`. Output: (N, out_channels, h0, w0).

    ``commute_fusion`` (default True) applies each level's slice of the 1x1 fusion conv before resizing
    instead of after: resizing acts on each channel alone and the 1x1 conv mixes channels per pixel, so
    the two commute and the result is the same map within float rounding, without the concatenated
    (N, channels * levels, h0, w0) tensor and with the lower levels' share of the fusion done at their own
    resolution (about a third of the fusion's multiply-adds for SegFormer's four levels). False runs
    MMSeg's order: resize, concatenate, fuse.
    """

    def __init__(self, interpolate_mode: str = "bilinear", commute_fusion: bool = True, **kwargs) -> None:
        transform = kwargs.pop("input_transform", "multiple_select")
        if transform != "multiple_select":
            raise ConfigError(f"SegformerHead reads several levels: input_transform must be 'multiple_select', "
                              f"got {transform!r}")
        super().__init__(input_transform="multiple_select", **kwargs)
        self.interpolate_mode = interpolate_mode
        conv_kw = dict(norm_cfg=self.norm_cfg, act_cfg=self.act_cfg)
        self.convs = nn.ModuleList([ConvModule(c, self.channels, 1, **conv_kw) for c in self.in_channels])
        self.fusion_conv = ConvModule(self.channels * len(self.in_channels), self.channels, 1, norm_cfg=self.norm_cfg)
        if not isinstance(commute_fusion, bool):
            raise ConfigError(f"SegformerHead: commute_fusion must be true or false, got {commute_fusion!r}")
        self.commute_fusion = commute_fusion

    def forward(self, inputs: Sequence[torch.Tensor]) -> torch.Tensor:
        """Levels (N, C_i, h_i, w_i) -> logits (N, out_channels, h0, w0)."""
        levels = self._transform_inputs(inputs)
        size = levels[0].shape[2:]
        projected = [conv(x) for conv, x in zip(self.convs, levels)]
        if self.commute_fusion and self._plain_fusion():
            return self.cls_seg(self._fuse_then_resize(projected, size))
        outs = [resize(p, size=size, mode=self.interpolate_mode, align_corners=self.align_corners) for p in projected]
        return self.cls_seg(self.fusion_conv(torch.cat(outs, dim=1)))

    def _plain_fusion(self) -> bool:
        """The fusion is a stock 1x1 conv followed by its norm and activation: what the commuted form computes."""
        fusion = self.fusion_conv
        conv = fusion.conv
        return (type(conv) is nn.Conv2d and conv.kernel_size == (1, 1) and conv.stride == (1, 1)
                and conv.padding == (0, 0) and conv.groups == 1 and fusion.order == ("conv", "norm", "act")
                and plain_weight(conv))

    def _fuse_then_resize(self, projected: list[torch.Tensor], size: torch.Size) -> torch.Tensor:
        """fusion_conv(cat(resize(p_i))) computed as sum_i resize(conv_i(p_i)), then the norm and activation."""
        fusion = self.fusion_conv
        weight, bias, norm_folded = applied_weight_bias(fusion.conv)
        parts = weight.split(self.channels, dim=1)
        # Level 0 defines the output size, so its product (with the bias) starts the sum.
        out = F.conv2d(projected[0], parts[0], bias)
        for p, w in zip(projected[1:], parts[1:]):
            y = F.conv2d(p, w)
            if y.shape[2:] != size:
                y = resize(y, size=size, mode=self.interpolate_mode, align_corners=self.align_corners)
            out = out.add_(y)
        if fusion.with_norm and not norm_folded:
            out = fusion.norm(out)
        return fusion.activate(out) if fusion.with_activation else out
