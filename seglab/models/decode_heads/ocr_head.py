"""OCRHead from "Object-Contextual Representations for Semantic Segmentation" (https://arxiv.org/abs/1909.11065).

A cascade stage: the previous stage's coarse logits softly gather one context vector per class
(SpatialGatherModule); every pixel attends to those class vectors (ObjectAttentionBlock) and the result,
fused with the pixel features, is classified. State-dict keys: ``bottleneck.conv/bn``,
``object_context_block.{query,key}_project.<0|1>.conv/bn``, ``.value_project.conv/bn``,
``.out_project.conv/bn``, ``.bottleneck.conv/bn``, then ``conv_seg``.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ...registry import MODELS, ConfigError
from ..layers import ConvModule, SelfAttentionBlock, resize
from .cascade_decode_head import BaseCascadeDecodeHead

__all__ = ["ObjectAttentionBlock", "OCRHead", "SpatialGatherModule"]


class SpatialGatherModule(nn.Module):
    """Class context vectors: features averaged with softmax(scale * logits) over positions as weights.

    feats (N, C, H, W), probs (N, K, H, W) -> (N, C, K, 1).
    """

    def __init__(self, scale: float) -> None:
        super().__init__()
        self.scale = scale

    def forward(self, feats: torch.Tensor, probs: torch.Tensor) -> torch.Tensor:
        """feats (N, C, H, W), probs (N, K, H, W) -> context (N, C, K, 1)."""
        n, k = probs.shape[:2]
        weights = F.softmax(self.scale * probs.reshape(n, k, -1), dim=2)  # (N, K, HW)
        context = torch.matmul(weights, feats.reshape(n, feats.size(1), -1).permute(0, 2, 1))  # (N, K, C)
        return context.permute(0, 2, 1).unsqueeze(3).contiguous()


class ObjectAttentionBlock(SelfAttentionBlock):
    """Pixels (queries) attend to the class context vectors (keys/values); ``bottleneck`` fuses [context, pixels].

    ``scale > 1`` max-pools the pixels by ``scale`` before they attend and upsamples the attended context
    back (bilinear). (MMSeg 1.2.2 builds the same pool but its forward fails for scale > 1.)
    query_feats (N, C, H, W), key_feats (N, C, K, 1) -> (N, C, H, W).
    """

    def __init__(self, in_channels: int, channels: int, scale: int, conv_cfg: dict | None, norm_cfg: dict | None,
                 act_cfg: dict | None) -> None:
        super().__init__(
            key_in_channels=in_channels, query_in_channels=in_channels, channels=channels, out_channels=in_channels,
            share_key_query=False, query_downsample=None, key_downsample=None, key_query_num_convs=2,
            value_out_num_convs=1, key_query_norm=True, value_out_norm=True, matmul_norm=True, with_out=True,
            conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.query_pool = nn.MaxPool2d(kernel_size=scale) if scale > 1 else None
        self.bottleneck = ConvModule(in_channels * 2, in_channels, 1, conv_cfg=conv_cfg, norm_cfg=norm_cfg,
                                     act_cfg=act_cfg)

    def forward(self, query_feats: torch.Tensor, key_feats: torch.Tensor) -> torch.Tensor:
        """query_feats (N, C, H, W), key_feats (N, C, K, 1) -> (N, C, H, W)."""
        if self.query_pool is None:
            context = super().forward(query_feats, key_feats)
        else:
            context = super().forward(self.query_pool(query_feats), key_feats)
            context = resize(context, size=query_feats.shape[2:], mode="bilinear", align_corners=False)
        return self.bottleneck(torch.cat([context, query_feats], dim=1))


@MODELS.register_module()
class OCRHead(BaseCascadeDecodeHead):
    """OCR: 3x3 bottleneck -> class-context gathering from ``prev_output`` -> object attention -> classifier.

    ``ocr_channels`` is the key/query width of the attention; ``scale`` sharpens the gathering softmax and
    (> 1) pools the attention's queries. Other arguments are those of :class:`BaseDecodeHead`.
    forward(inputs, prev_output (N, K, h, w)) -> logits (N, out_channels, h, w).
    """

    def __init__(self, ocr_channels: int, scale: int = 1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not isinstance(scale, int) or scale < 1:
            raise ConfigError(f"OCRHead: scale must be an int >= 1, got {scale!r}")
        self.ocr_channels, self.scale = ocr_channels, scale
        self.object_context_block = ObjectAttentionBlock(self.channels, ocr_channels, scale, conv_cfg=self.conv_cfg,
                                                         norm_cfg=self.norm_cfg, act_cfg=self.act_cfg)
        self.spatial_gather_module = SpatialGatherModule(scale)
        self.bottleneck = ConvModule(self.in_channels, self.channels, 3, padding=1, conv_cfg=self.conv_cfg,
                                     norm_cfg=self.norm_cfg, act_cfg=self.act_cfg)

    def forward(self, inputs: Sequence[torch.Tensor], prev_output: torch.Tensor) -> torch.Tensor:
        """Features and the previous stage's logits (N, K, h, w) -> logits (N, out_channels, h, w)."""
        feats = self.bottleneck(self._transform_inputs(inputs))
        if prev_output.shape[2:] != feats.shape[2:]:
            raise ValueError(f"OCRHead: prev_output is {tuple(prev_output.shape[2:])} but the features are "
                             f"{tuple(feats.shape[2:])}; the previous stage must read the same feature level "
                             "(same in_index/input_transform)")
        context = self.spatial_gather_module(feats, prev_output)
        return self.cls_seg(self.object_context_block(feats, context))
