"""Sine positional encoding of DETR (mmdet's ``SinePositionalEncoding``); it has no parameters.

Paper: End-to-End Object Detection with Transformers, https://arxiv.org/abs/2005.12872
"""
from __future__ import annotations

import math

import torch
from torch import nn

from ...registry import ConfigError

__all__ = ["SinePositionalEncoding", "build_positional_encoding"]


class SinePositionalEncoding(nn.Module):
    """Sine/cosine encoding of (y, x) positions: mask (N, H, W) -> (N, 2 * num_feats, H, W).

    Channels are ``[y sin/cos interleaved..., x sin/cos interleaved...]``. With ``normalize`` the
    cumulative positions of valid (mask == 0) pixels are scaled to ``(0, scale]`` (after ``offset``).
    """

    def __init__(self, num_feats: int, temperature: int = 10000, normalize: bool = False,
                 scale: float = 2 * math.pi, eps: float = 1e-6, offset: float = 0.0,
                 init_cfg: dict | None = None) -> None:
        super().__init__()
        if normalize and not isinstance(scale, (float, int)):
            raise ConfigError(f"SinePositionalEncoding: scale must be a number when normalize=True, got {scale!r}")
        self.num_feats = num_feats
        self.temperature = temperature
        self.normalize = normalize
        self.scale = scale
        self.eps = eps
        self.offset = offset
        self.init_cfg = init_cfg

    def forward(self, mask: torch.Tensor | None, input: torch.Tensor | None = None) -> torch.Tensor:  # noqa: A002
        """``mask``: (N, H, W), nonzero at padded pixels; or None and ``input`` (N, C, H, W) (no padding)."""
        if mask is None and input is None:
            raise ValueError("SinePositionalEncoding needs a mask or an input tensor")
        if mask is not None:
            batch, height, width = mask.shape
            device = mask.device
            not_mask = 1 - mask.to(torch.int)
            y_embed = not_mask.cumsum(1, dtype=torch.float32)
            x_embed = not_mask.cumsum(2, dtype=torch.float32)
        else:
            batch, _, height, width = input.shape
            device = input.device
            x_embed = torch.arange(1, width + 1, dtype=torch.float32, device=device).view(1, 1, -1)
            y_embed = torch.arange(1, height + 1, dtype=torch.float32, device=device).view(1, -1, 1)
            x_embed = x_embed.expand(batch, height, width)
            y_embed = y_embed.expand(batch, height, width)
        if self.normalize:
            y_embed = (y_embed + self.offset) / (y_embed[:, -1:, :] + self.eps) * self.scale
            x_embed = (x_embed + self.offset) / (x_embed[:, :, -1:] + self.eps) * self.scale
        dim_t = torch.arange(self.num_feats, dtype=torch.float32, device=device)
        dim_t = self.temperature ** (2 * (dim_t // 2) / self.num_feats)
        pos_x = x_embed[..., None] / dim_t
        pos_y = y_embed[..., None] / dim_t
        # Even channels take sin, odd ones cos, interleaved pairwise.
        pos_x = torch.stack((pos_x[..., 0::2].sin(), pos_x[..., 1::2].cos()), dim=4).view(batch, height, width, -1)
        pos_y = torch.stack((pos_y[..., 0::2].sin(), pos_y[..., 1::2].cos()), dim=4).view(batch, height, width, -1)
        return torch.cat((pos_y, pos_x), dim=3).permute(0, 3, 1, 2)

    def extra_repr(self) -> str:
        return (f"num_feats={self.num_feats}, temperature={self.temperature}, normalize={self.normalize}, "
                f"scale={self.scale}, eps={self.eps}")


def build_positional_encoding(cfg: dict | None) -> SinePositionalEncoding:
    """A ``SinePositionalEncoding`` from its arguments (mmdet 3.x configs give no ``type``; an explicit
    ``type='SinePositionalEncoding'`` or ``'mmdet.SinePositionalEncoding'`` is accepted too)."""
    cfg = dict(num_feats=128, normalize=True) if cfg is None else dict(cfg)
    kind = cfg.pop("type", "SinePositionalEncoding")
    if kind not in ("SinePositionalEncoding", "mmdet.SinePositionalEncoding"):
        raise ConfigError(f"positional_encoding: only SinePositionalEncoding is supported, got type {kind!r}")
    return SinePositionalEncoding(**cfg)
