"""Encoding layer from "Context Encoding for Semantic Segmentation" (https://arxiv.org/abs/1803.08904):
a learnable residual encoder with MMSeg's keys (``codewords``, ``scale``)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["Encoding"]


class Encoding(nn.Module):
    """Soft-assign every position to ``num_codes`` codewords and sum the weighted residuals.

    (N, C, H, W) -> (N, num_codes, C): e_k = sum_i a_ik (x_i - c_k),
    a_ik = softmax_k(s_k * ||x_i - c_k||^2), with learnable codewords c (K, C) and smoothing s (K,).
    """

    def __init__(self, channels: int, num_codes: int) -> None:
        super().__init__()
        self.channels, self.num_codes = channels, num_codes
        std = 1.0 / (num_codes * channels) ** 0.5
        self.codewords = nn.Parameter(torch.empty(num_codes, channels).uniform_(-std, std))
        # Negative smoothing factors: nearer codewords get larger assignment weights.
        self.scale = nn.Parameter(torch.empty(num_codes).uniform_(-1, 0))

    def extra_repr(self) -> str:
        return f"Nx{self.channels}xHxW => Nx{self.num_codes}x{self.channels}"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (N, C, H, W) -> encoded (N, num_codes, C)."""
        if x.dim() != 4 or x.size(1) != self.channels:
            raise ValueError(f"Encoding expects (N, {self.channels}, H, W), got {tuple(x.shape)}")
        n = x.size(0)
        x = x.reshape(n, self.channels, -1).transpose(1, 2)  # (N, HW, C)
        residual = x.unsqueeze(2) - self.codewords.view(1, 1, self.num_codes, self.channels)  # (N, HW, K, C)
        assign = F.softmax(self.scale.view(1, 1, -1) * residual.pow(2).sum(dim=3), dim=2)  # (N, HW, K)
        return (assign.unsqueeze(3) * residual).sum(dim=1)
