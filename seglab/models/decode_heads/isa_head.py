"""ISAHead from "Interlaced Sparse Self-Attention for Semantic Segmentation" (https://arxiv.org/abs/1907.12273)."""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from ...registry import MODELS
from ..layers import ConvModule, SelfAttentionBlock
from ..layers.self_attention_block import build_projection
from .decode_head import BaseDecodeHead

__all__ = ["ISAHead", "ISASelfAttention"]


class ISASelfAttention(SelfAttentionBlock):
    """Self-attention with two-conv key/query projections and a ConvModule ``output_project``;
    (N, C, H, W) -> (N, C, H, W)."""

    def __init__(self, in_channels: int, channels: int, conv_cfg: dict | None, norm_cfg: dict | None,
                 act_cfg: dict | None) -> None:
        super().__init__(
            key_in_channels=in_channels, query_in_channels=in_channels, channels=channels, out_channels=in_channels,
            share_key_query=False, query_downsample=None, key_downsample=None, key_query_num_convs=2,
            value_out_num_convs=1, key_query_norm=True, value_out_norm=False, matmul_norm=True, with_out=False,
            conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=act_cfg,
        )
        self.output_project = build_projection(in_channels, in_channels, 1, True, conv_cfg, norm_cfg, act_cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return self.output_project(super().forward(x, x))


@MODELS.register_module()
class ISAHead(BaseDecodeHead):
    """Attention factorised into a long-range step (pixels with the same offset in every
    ``down_factor`` block) and a short-range step (pixels of one block), then fused with the input.

    Args:
        isa_channels: key/query channels of both attentions.
        down_factor: (loc_h, loc_w) block size; the map is zero-padded (centred) to a multiple of it.
        Other arguments are those of :class:`BaseDecodeHead`.
    """

    def __init__(self, isa_channels: int, down_factor: tuple[int, int] = (8, 8), **kwargs) -> None:
        super().__init__(**kwargs)
        self.down_factor = down_factor
        layer_cfg = dict(conv_cfg=self.conv_cfg, norm_cfg=self.norm_cfg, act_cfg=self.act_cfg)
        self.in_conv = ConvModule(self.in_channels, self.channels, 3, padding=1, **layer_cfg)
        self.global_relation = ISASelfAttention(self.channels, isa_channels, **layer_cfg)
        self.local_relation = ISASelfAttention(self.channels, isa_channels, **layer_cfg)
        self.out_conv = ConvModule(self.channels * 2, self.channels, 1, **layer_cfg)

    def forward(self, inputs: Sequence[torch.Tensor]) -> torch.Tensor:
        """Logits (N, out_channels, h, w)."""
        x = self.in_conv(self._transform_inputs(inputs))
        residual = x
        n, c, h, w = x.shape
        loc_h, loc_w = self.down_factor
        glb_h, glb_w = math.ceil(h / loc_h), math.ceil(w / loc_w)
        pad_h, pad_w = glb_h * loc_h - h, glb_w * loc_w - w
        if pad_h > 0 or pad_w > 0:
            x = F.pad(x, (pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2))
        # Long range: group pixels sharing the in-block offset (i, j): batch of (n*loc_h*loc_w) maps glb_h x glb_w.
        x = x.reshape(n, c, glb_h, loc_h, glb_w, loc_w).permute(0, 3, 5, 1, 2, 4).reshape(-1, c, glb_h, glb_w)
        x = self.global_relation(x)
        # Short range: group the pixels of each block: batch of (n*glb_h*glb_w) maps loc_h x loc_w.
        x = x.reshape(n, loc_h, loc_w, c, glb_h, glb_w).permute(0, 4, 5, 3, 1, 2).reshape(-1, c, loc_h, loc_w)
        x = self.local_relation(x)
        x = x.reshape(n, glb_h, glb_w, c, loc_h, loc_w).permute(0, 3, 1, 4, 2, 5).reshape(
            n, c, glb_h * loc_h, glb_w * loc_w)
        if pad_h > 0 or pad_w > 0:
            x = x[:, :, pad_h // 2:pad_h // 2 + h, pad_w // 2:pad_w // 2 + w]
        return self.cls_seg(self.out_conv(torch.cat([x, residual], dim=1)))
