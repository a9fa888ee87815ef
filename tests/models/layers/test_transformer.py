"""MMCV-layout transformer blocks: key layout, SDPA equals the explicit softmax formula, padding rules."""
from __future__ import annotations

import math

import pytest
import torch
from torch.nn import functional as F

from seglab.models.layers.transformer import (
    FFN,
    AdaptivePadding,
    MultiheadAttention,
    PatchEmbed,
    PatchMerging,
    build_dropout,
    drop_path,
    nchw_to_nlc,
    nlc_to_nchw,
)
from seglab.registry import ConfigError


def explicit_attention(mha: MultiheadAttention, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """softmax(QK^T / sqrt(d)) V with the module's own projections; q/k/v: (N, L, C)."""
    attn = mha.attn
    c, heads = mha.embed_dims, mha.num_heads
    wq, wk, wv = attn.in_proj_weight.split(c)
    bq, bk, bv = attn.in_proj_bias.split(c)

    def split(x: torch.Tensor) -> torch.Tensor:  # (N, L, C) -> (N, heads, L, d)
        return x.reshape(x.shape[0], x.shape[1], heads, c // heads).transpose(1, 2)

    qh, kh, vh = split(F.linear(q, wq, bq)), split(F.linear(k, wk, bk)), split(F.linear(v, wv, bv))
    weights = torch.softmax(qh @ kh.transpose(-1, -2) / math.sqrt(c // heads), dim=-1)
    out = (weights @ vh).transpose(1, 2).reshape(q.shape[0], q.shape[1], c)
    return attn.out_proj(out)


@pytest.mark.parametrize("batch_first", [True, False])
def test_attention_through_sdpa_equals_explicit_formula(batch_first: bool):
    torch.manual_seed(0)
    mha = MultiheadAttention(32, 4, batch_first=batch_first).eval()
    q, kv = torch.randn(2, 7, 32), torch.randn(2, 11, 32)
    pos = torch.randn(2, 7, 32)
    args = (q, kv, kv, None, pos) if batch_first else tuple(
        t.transpose(0, 1) if t is not None else None for t in (q, kv, kv, None, pos))
    out = mha(*args)
    if not batch_first:
        out = out.transpose(0, 1)
    expected = q + explicit_attention(mha, q + pos, kv, kv)
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)


def test_attention_self_attention_shares_query_pos_and_key_layout():
    torch.manual_seed(0)
    mha = MultiheadAttention(16, 2, batch_first=True).eval()
    assert list(mha.state_dict()) == ["attn.in_proj_weight", "attn.in_proj_bias", "attn.out_proj.weight",
                                      "attn.out_proj.bias"]
    x, pos = torch.randn(1, 5, 16), torch.randn(1, 5, 16)
    expected = x + explicit_attention(mha, x + pos, x + pos, x)  # value carries no position
    torch.testing.assert_close(mha(x, query_pos=pos), expected, atol=1e-5, rtol=1e-5)


def test_ffn_layout_and_value():
    ffn = FFN(8, 16, act_cfg=dict(type="GELU")).eval()
    assert list(ffn.state_dict()) == ["layers.0.0.weight", "layers.0.0.bias", "layers.1.weight", "layers.1.bias"]
    x = torch.randn(3, 8)
    hidden = F.gelu(F.linear(x, ffn.layers[0][0].weight, ffn.layers[0][0].bias))
    torch.testing.assert_close(ffn(x), x + F.linear(hidden, ffn.layers[1].weight, ffn.layers[1].bias))
    assert "gamma2.weight" in FFN(8, 16, layer_scale_init_value=0.1).state_dict()
    with pytest.raises(ConfigError, match="num_fcs"):
        FFN(8, 16, num_fcs=1)


def test_adaptive_padding_corner_and_same():
    pad = AdaptivePadding(kernel_size=4, stride=4, padding="corner")
    assert pad.get_pad_shape((10, 12)) == (2, 0)
    x = torch.ones(1, 1, 10, 12)
    assert pad(x)[0, 0, 10:].abs().sum() == 0 and pad(x).shape[-2:] == (12, 12)
    same = AdaptivePadding(kernel_size=7, stride=4, padding="same")
    y = same(torch.ones(1, 1, 9, 9))  # out 3 -> needs (3-1)*4+7-9 = 6 -> 3 before, 3 after
    assert y.shape[-2:] == (15, 15) and y[0, 0, :3].sum() == 0 and y[0, 0, -3:].sum() == 0


def test_patch_embed_sizes_and_init_out_size():
    embed = PatchEmbed(3, 8, kernel_size=4, norm_cfg=dict(type="LN"), input_size=(30, 33))
    tokens, size = embed(torch.randn(2, 3, 30, 33))
    assert size == (8, 9) == embed.init_out_size and tokens.shape == (2, 72, 8)
    assert set(embed.state_dict()) == {"projection.weight", "projection.bias", "norm.weight", "norm.bias"}
    overlap = PatchEmbed(3, 8, kernel_size=7, stride=4, padding=3)  # MiT's overlapping embedding
    assert overlap(torch.randn(1, 3, 32, 32))[1] == (8, 8)


def test_patch_merging_concatenates_2x2_neighbourhoods():
    merge = PatchMerging(2, 3, norm_cfg=None)
    x = torch.arange(2 * 4 * 4, dtype=torch.float32).reshape(1, 2, 4, 4)
    out, size = merge(nchw_to_nlc(x), (4, 4))
    assert size == (2, 2) and out.shape == (1, 4, 3)
    # nn.Unfold orders the sampled vector channel-major: (c, ky, kx)
    first = x[0, :, 0:2, 0:2].reshape(-1)
    torch.testing.assert_close(out[0, 0], merge.reduction(first))
    odd, odd_size = merge(torch.randn(1, 15, 2), (3, 5))  # corner padding to 4x6
    assert odd_size == (2, 3) and odd.shape == (1, 6, 3)


def test_token_map_round_trip_and_drop_path():
    x = torch.randn(2, 3, 4, 5)
    torch.testing.assert_close(nlc_to_nchw(nchw_to_nlc(x), (4, 5)), x)
    with pytest.raises(ValueError, match="4x4"):
        nlc_to_nchw(torch.randn(1, 20, 3), (4, 4))
    torch.manual_seed(0)
    y = drop_path(torch.ones(1000, 4), 0.25, training=True)
    kept = (y[:, 0] > 0).float().mean().item()
    assert 0.7 < kept < 0.8 and (y == 0).logical_or(torch.isclose(y, torch.tensor(1 / 0.75))).all()
    assert torch.equal(drop_path(x, 0.5, training=False), x)
    with pytest.raises(ConfigError, match="DropPath"):
        build_dropout(dict(type="Droppath", drop_prob=0.1))
