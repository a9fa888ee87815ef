"""Criss-cross attention from "CCNet: Criss-Cross Attention for Semantic Segmentation"
(https://arxiv.org/abs/1811.11721) in plain PyTorch; keys as MMCV's ``CrissCrossAttention``
(``query_conv``, ``key_conv``, ``value_conv``, ``gamma.scale``)."""
from __future__ import annotations

import torch
from torch import nn

from .scale import Scale

__all__ = ["CrissCrossAttention"]


class CrissCrossAttention(nn.Module):
    """Each position attends to the positions of its own row and column (itself counted once).

    out = gamma * sum_{u in row(p) + column(p)} softmax_u(q_p . k_u) v_u + x, with query/key at
    ``in_channels // 8`` channels and gamma initialised to 0.
    """

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.query_conv = nn.Conv2d(in_channels, in_channels // 8, 1)
        self.key_conv = nn.Conv2d(in_channels, in_channels // 8, 1)
        self.value_conv = nn.Conv2d(in_channels, in_channels, 1)
        self.gamma = Scale(0.0)

    def extra_repr(self) -> str:
        return f"in_channels={self.in_channels}"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (N, C, H, W) -> (N, C, H, W)."""
        h = x.size(2)
        query, key, value = self.query_conv(x), self.key_conv(x), self.value_conv(x)
        # Column scores [n, h, w, h'] (same w), with the pixel itself masked out so it is only counted
        # once, by the row scores [n, h, w, w'] (same h).
        col = torch.einsum("nchw,ncgw->nhwg", query, key)
        self_mask = torch.eye(h, dtype=torch.bool, device=x.device).view(1, h, 1, h)
        col = col.masked_fill(self_mask, float("-inf"))
        row = torch.einsum("nchw,nchv->nhwv", query, key)
        attn = torch.softmax(torch.cat([col, row], dim=-1), dim=-1)
        out = torch.einsum("ncgw,nhwg->nchw", value, attn[..., :h])
        out = out + torch.einsum("nchv,nhwv->nchw", value, attn[..., h:])
        return self.gamma(out) + x
