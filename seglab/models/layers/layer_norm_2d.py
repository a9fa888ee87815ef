"""``LayerNorm2d`` (mmpretrain's ``LN2d``): LayerNorm over the channels of (N, C, H, W) maps.

State-dict keys are those of ``nn.LayerNorm`` (``weight``, ``bias``), so mmpretrain checkpoints load.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["LayerNorm2d"]


class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over dim 1 of (N, C, H, W); ``data_format='channel_last'`` takes (N, H, W, C) instead."""

    def __init__(self, num_channels: int, eps: float = 1e-5, elementwise_affine: bool = True) -> None:
        super().__init__(num_channels, eps=eps, elementwise_affine=elementwise_affine)
        self.num_channels = num_channels

    def forward(self, x: torch.Tensor, data_format: str = "channel_first") -> torch.Tensor:
        """Normalise each pixel's channel vector; the output has the input's layout."""
        if x.dim() != 4:
            raise ValueError(f"LayerNorm2d takes 4-d inputs, got shape {tuple(x.shape)}")
        if data_format == "channel_last":
            return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        if data_format != "channel_first":
            raise ValueError(f"data_format must be 'channel_first' or 'channel_last', got {data_format!r}")
        x = F.layer_norm(x.permute(0, 2, 3, 1), self.normalized_shape, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2).contiguous()
