"""The pre-norm transformer layer of CLIP as MMCV's ``BaseTransformerLayer`` with
``operation_order=('norm', 'self_attn', 'norm', 'ffn')`` lays it out: keys ``attentions.0.attn.*``,
``ffns.0.layers.*`` and ``norms.0`` / ``norms.1``; tokens are sequence-first (L, N, C)."""
from __future__ import annotations

import torch
from torch import nn

from .norm import build_norm_layer
from .transformer import FFN, MultiheadAttention

__all__ = ["PreNormTransformerLayer"]


class PreNormTransformerLayer(nn.Module):
    """``x + attn(norm0(x))`` then ``+ ffn(norm1(x))``; ``attn_mask`` is added to the attention logits."""

    def __init__(self, embed_dims: int, num_heads: int, feedforward_channels: int, qkv_bias: bool = True,
                 act_cfg: dict = dict(type="QuickGELU"), norm_cfg: dict = dict(type="LN")) -> None:
        super().__init__()
        self.attentions = nn.ModuleList([MultiheadAttention(embed_dims, num_heads, qkv_bias=qkv_bias)])
        self.ffns = nn.ModuleList([FFN(embed_dims, feedforward_channels, act_cfg=act_cfg)])
        self.norms = nn.ModuleList([build_norm_layer(norm_cfg, embed_dims)[1] for _ in range(2)])

    def forward(self, x: torch.Tensor, attn_mask: torch.Tensor | None = None) -> torch.Tensor:
        """x: (L, N, C); attn_mask: (L, L) or (N * num_heads, L, L), additive (float) or True = masked."""
        x = self.attentions[0](self.norms[0](x), identity=x, attn_mask=attn_mask)
        return self.ffns[0](self.norms[1](x), identity=x)
