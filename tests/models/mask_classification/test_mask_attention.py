"""Attention numerics: Mask2Former's masked cross-attention on SDPA equals the explicit softmax formula,
and the grid_sample deformable attention equals bilinear sampling written from its definition."""
from __future__ import annotations

import math

import numpy as np
import torch

from seglab.models.mask_classification import multi_scale_deformable_attn
from seglab.models.mask_classification.transformer_layers import Mask2FormerTransformerDecoderLayer


def explicit_attention(attn: torch.nn.MultiheadAttention, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                       mask: torch.Tensor | None) -> torch.Tensor:
    """out_proj(softmax(Q K^T / sqrt(d) - inf * mask) V) per head; q/k/v: (N, L, C), mask (N * heads, Lq, Lk)."""
    n, lq, c = q.shape
    heads = attn.num_heads
    d = c // heads
    wq, wk, wv = attn.in_proj_weight.chunk(3)
    bq, bk, bv = attn.in_proj_bias.chunk(3)

    def split(x: torch.Tensor) -> torch.Tensor:
        return x.view(n, -1, heads, d).transpose(1, 2)  # (N, heads, L, d)

    qh, kh, vh = split(q @ wq.T + bq), split(k @ wk.T + bk), split(v @ wv.T + bv)
    scores = qh @ kh.transpose(-1, -2) / math.sqrt(d)
    if mask is not None:
        scores = scores.masked_fill(mask.view(n, heads, lq, -1), float("-inf"))
    out = (scores.softmax(-1) @ vh).transpose(1, 2).reshape(n, lq, c)
    return attn.out_proj(out)


def test_masked_cross_attention_equals_explicit_softmax():
    torch.manual_seed(0)
    layer = Mask2FormerTransformerDecoderLayer(
        self_attn_cfg=dict(embed_dims=16, num_heads=4), cross_attn_cfg=dict(embed_dims=16, num_heads=4),
        ffn_cfg=dict(embed_dims=16, feedforward_channels=24)).eval()
    n, q_len, k_len = 2, 5, 12
    query, query_pos = torch.randn(n, q_len, 16), torch.randn(n, q_len, 16)
    key, key_pos = torch.randn(n, k_len, 16), torch.randn(n, k_len, 16)
    mask = torch.rand(n * 4, q_len, k_len) < 0.5  # True = blocked, as the head's (sigmoid(mask) < 0.5)
    mask[..., 0] = False  # every query keeps at least one key (the head guarantees it)
    with torch.no_grad():
        ours = layer.cross_attn(query, key, key, query_pos=query_pos, key_pos=key_pos, attn_mask=mask)
        ref = query + explicit_attention(layer.cross_attn.attn, query + query_pos, key + key_pos, key, mask)
        torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-5)
        # the whole layer: cross (masked) -> norm -> self -> norm -> ffn -> norm
        out = layer(query, key, key, query_pos=query_pos, key_pos=key_pos, cross_attn_mask=mask)
        x = layer.norms[0](ref)
        x = layer.norms[1](x + explicit_attention(layer.self_attn.attn, x + query_pos, x + query_pos, x, None))
        torch.testing.assert_close(out, layer.norms[2](layer.ffn(x)), rtol=1e-5, atol=1e-5)


def bilinear_zero_padded(img: np.ndarray, x: float, y: float) -> np.ndarray:
    """img (C, H, W) at location (x, y) in [0, 1] image coordinates (pixel centres at (i + 0.5) / W), zeros
    outside: the definition of grid_sample(align_corners=False, padding_mode='zeros')."""
    _, h, w = img.shape
    px, py = x * w - 0.5, y * h - 0.5
    x0, y0 = math.floor(px), math.floor(py)
    out = np.zeros(img.shape[0])
    for yy, wy in ((y0, 1 - (py - y0)), (y0 + 1, py - y0)):
        for xx, wx in ((x0, 1 - (px - x0)), (x0 + 1, px - x0)):
            if 0 <= yy < h and 0 <= xx < w:
                out += wy * wx * img[:, yy, xx]
    return out


def test_deformable_attention_equals_definition():
    rng = np.random.default_rng(0)
    n, heads, d, levels, points, q_len = 2, 2, 3, 2, 3, 4
    shapes = [(4, 5), (2, 3)]
    value = rng.normal(size=(n, sum(h * w for h, w in shapes), heads, d)).astype(np.float32)
    loc = rng.uniform(-0.2, 1.2, size=(n, q_len, heads, levels, points, 2)).astype(np.float32)  # some outside
    weights = rng.uniform(size=(n, q_len, heads, levels, points)).astype(np.float32)
    ours = multi_scale_deformable_attn(torch.from_numpy(value), torch.tensor(shapes), torch.from_numpy(loc),
                                       torch.from_numpy(weights)).numpy()
    assert ours.shape == (n, q_len, heads * d)
    starts = np.cumsum([0] + [h * w for h, w in shapes])
    ref = np.zeros((n, q_len, heads, d))
    for b in range(n):
        for q in range(q_len):
            for m in range(heads):
                for lvl, (h, w) in enumerate(shapes):
                    img = value[b, starts[lvl]:starts[lvl + 1], m].T.reshape(d, h, w)
                    for p in range(points):
                        x, y = loc[b, q, m, lvl, p]
                        ref[b, q, m] += weights[b, q, m, lvl, p] * bilinear_zero_padded(img, x, y)
    np.testing.assert_allclose(ours, ref.reshape(n, q_len, heads * d), rtol=1e-5, atol=1e-5)
