"""MixVisionTransformer (SegFormer MiT): efficient attention = explicit softmax, MMSeg layout, variant parity, init."""
from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

import pytest
import torch
from torch.nn import functional as F

from seglab.models.backbones.mit import EfficientMultiheadAttention, MixFFN, MixVisionTransformer
from seglab.registry import ConfigError


def _ref():
    """tests/data/segformer_segnext/reference_cases.py, loaded once (tests/ is not a package)."""
    if "segformer_segnext_cases" not in sys.modules:
        path = Path(__file__).resolve().parents[2] / "data" / "segformer_segnext" / "reference_cases.py"
        spec = importlib.util.spec_from_file_location("segformer_segnext_cases", path)
        module = importlib.util.module_from_spec(spec)
        sys.modules["segformer_segnext_cases"] = module
        spec.loader.exec_module(module)
    return sys.modules["segformer_segnext_cases"]


def explicit_efficient_attention(attn: EfficientMultiheadAttention, x: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
    """x + out_proj(softmax(Q K^T / sqrt(d)) V) with K, V from norm(sr(x)); written out by hand."""
    n, length, c = x.shape
    heads, d = attn.num_heads, c // attn.num_heads
    kv = x
    if attn.sr_ratio > 1:
        kv = x.transpose(1, 2).reshape(n, c, *hw)
        kv = F.conv2d(kv, attn.sr.weight, attn.sr.bias, stride=attn.sr_ratio).flatten(2).transpose(1, 2)
        kv = F.layer_norm(kv, (c,), attn.norm.weight, attn.norm.bias, attn.norm.eps)
    wq, wk, wv = attn.attn.in_proj_weight.split(c)
    bq, bk, bv = attn.attn.in_proj_bias.split(c)
    q = F.linear(x, wq, bq).reshape(n, length, heads, d).transpose(1, 2)
    k = F.linear(kv, wk, bk).reshape(n, -1, heads, d).transpose(1, 2)
    v = F.linear(kv, wv, bv).reshape(n, -1, heads, d).transpose(1, 2)
    weights = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(d), dim=-1)
    out = (weights @ v).transpose(1, 2).reshape(n, length, c)
    return x + attn.attn.out_proj(out)


@pytest.mark.parametrize("sr_ratio", [1, 2, 4])
def test_efficient_attention_on_sdpa_equals_explicit_softmax(sr_ratio: int):
    torch.manual_seed(0)
    attn = EfficientMultiheadAttention(16, 4, qkv_bias=True, sr_ratio=sr_ratio).eval()
    x, hw = torch.randn(2, 8 * 12, 16), (8, 12)
    torch.testing.assert_close(attn(x, hw), explicit_efficient_attention(attn, x, hw), atol=1e-5, rtol=1e-5)
    keys = set(attn.state_dict())
    assert {"sr.weight", "norm.weight"} <= keys if sr_ratio > 1 else not {"sr.weight", "norm.weight"} & keys
    if sr_ratio > 1:
        assert attn.sr.weight.shape == (16, 16, sr_ratio, sr_ratio)


def test_mix_ffn_is_conv_dwconv_act_conv_on_tokens():
    torch.manual_seed(0)
    ffn = MixFFN(4, 8).eval()
    assert [k for k in ffn.state_dict() if k.endswith("weight")] == ["layers.0.weight", "layers.1.weight",
                                                                     "layers.4.weight"]
    x, hw = torch.randn(2, 3 * 5, 4), (3, 5)
    fc1, dw, fc2 = ffn.layers[0], ffn.layers[1], ffn.layers[4]
    m = x.transpose(1, 2).reshape(2, 4, 3, 5)
    expected = fc2(F.gelu(dw(fc1(m)))).flatten(2).transpose(1, 2)
    torch.testing.assert_close(ffn(x, hw), x + expected)


def test_mit_b0_declares_channels_and_strides_and_mmseg_key_names():
    model = MixVisionTransformer(embed_dims=32, num_layers=[2, 2, 2, 2], num_heads=[1, 2, 5, 8])
    assert model.out_channels == [32, 64, 160, 256] and model.out_strides == [4, 8, 16, 32]
    keys = list(model.state_dict())
    assert keys[:4] == ["layers.0.0.projection.weight", "layers.0.0.projection.bias", "layers.0.0.norm.weight",
                        "layers.0.0.norm.bias"]
    assert "layers.0.1.1.attn.sr.weight" in keys and "layers.3.1.1.attn.sr.weight" not in keys
    assert "layers.3.2.weight" in keys and model.layers[0][2].eps == 1e-6  # MMSeg's LN eps
    # stochastic depth rises linearly to drop_path_rate over the 8 layers
    rates = [blk.attn.dropout_layer.drop_prob for stage in MixVisionTransformer(
        embed_dims=8, num_layers=[2, 2], num_heads=[1, 2], num_stages=2, patch_sizes=[7, 3], strides=[4, 2],
        sr_ratios=[2, 1], out_indices=[0, 1], drop_path_rate=0.3).layers for blk in stage[1]]
    assert rates == pytest.approx([0.0, 0.1, 0.2, 0.3])


def test_variant_matches_mmseg():
    """Other stage count, patch sizes, strides, out_indices, act, LN eps and qkv_bias=False than the golden."""
    ref = _ref()
    model = ref.filled("mit_variant")
    assert "layers.0.1.0.attn.attn.in_proj_bias" not in model.state_dict()
    with torch.no_grad():
        outs = model(ref.inputs([ref.CASES["mit_variant"]["input"]])[0])
    assert len(outs) == 2 and model.out_strides == [2, 8] and model.out_channels == [8, 32]
    for i, out in enumerate(outs):
        ref.assert_close(out, f"mit_variant.out{i}")


def test_checkpointing_gives_the_same_output_and_gradients():
    cfg = dict(embed_dims=4, num_layers=[1, 1], num_heads=[1, 2], num_stages=2, patch_sizes=[3, 3], strides=[2, 2],
               sr_ratios=[2, 1], out_indices=[0, 1])
    torch.manual_seed(0)
    plain = MixVisionTransformer(**cfg)
    ckpt = MixVisionTransformer(**cfg, with_cp=True)
    ckpt.load_state_dict(plain.state_dict())
    x = torch.randn(1, 3, 16, 16)
    for model in (plain, ckpt):
        sum(o.square().sum() for o in model(x)).backward()
    torch.testing.assert_close(ckpt.layers[0][1][0].attn.sr.weight.grad, plain.layers[0][1][0].attn.sr.weight.grad)


def test_init_weights_follows_mmseg_and_pretrained_loads(tmp_path):
    torch.manual_seed(0)
    cfg = dict(embed_dims=8, num_layers=[1, 1], num_heads=[1, 2], num_stages=2, patch_sizes=[7, 3], strides=[4, 2],
               sr_ratios=[2, 1], out_indices=[1])
    model = MixVisionTransformer(**cfg)
    model.init_weights()
    model.requires_grad_(False)
    out_proj = model.layers[0][1][0].attn.attn.out_proj
    assert float(out_proj.weight.std()) == pytest.approx(0.02, rel=0.3)
    assert torch.all(out_proj.bias == 0) and torch.all(model.layers[0][2].weight == 1)
    fc1 = model.layers[1][1][0].ffn.layers[0]  # 1x1 conv 16 -> 64: std sqrt(2 / 64)
    assert float(fc1.weight.std()) == pytest.approx(math.sqrt(2 / 64), rel=0.1) and torch.all(fc1.bias == 0)
    path = tmp_path / "mit.pth"
    torch.save(model.state_dict(), path)
    loaded = MixVisionTransformer(**cfg, init_cfg=dict(type="Pretrained", checkpoint=str(path)))
    loaded.init_weights()
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in loaded.state_dict().items())


def test_bad_arguments_fail_naming_them():
    with pytest.raises(ConfigError, match="num_heads"):
        MixVisionTransformer(num_stages=4, num_heads=[1, 2, 5])
    with pytest.raises(ConfigError, match="out_indices"):
        MixVisionTransformer(out_indices=(0, 4))
    with pytest.raises(ConfigError, match="either pretrained or init_cfg"):
        MixVisionTransformer(pretrained="a.pth", init_cfg=dict(type="Pretrained", checkpoint="b.pth"))


def test_mix_ffn_token_path_equals_the_map_path_with_gradients():
    """The default path (1x1 convs as linear maps of the tokens, depth-wise conv on a channels-last view) computes
    the plain NCHW path's numbers and gradients; a forward hook on a layer sends it back to the plain path."""
    torch.manual_seed(0)
    ffn = MixFFN(embed_dims=6, feedforward_channels=10).double()
    x = torch.randn(2, 5 * 7, 6, dtype=torch.float64, requires_grad=True)
    assert ffn._tokens_path()
    fast = ffn(x, (5, 7))
    fast.square().sum().backward()
    grads = [x.grad.clone()] + [p.grad.clone() for p in ffn.parameters()]
    x.grad = None
    ffn.zero_grad()
    seen = []
    hook = ffn.layers[0].register_forward_hook(lambda m, a, o: seen.append(o.shape))
    assert not ffn._tokens_path()
    plain = ffn(x, (5, 7))
    hook.remove()
    assert seen == [(2, 10, 5, 7)]
    plain.square().sum().backward()
    torch.testing.assert_close(fast, plain, rtol=1e-12, atol=1e-12)
    for a, b in zip(grads, [x.grad] + [p.grad for p in ffn.parameters()]):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="cannot form a 5x6 map"):
        ffn(x, (5, 6))


@pytest.mark.parametrize(("n", "hw", "pixels"), [(1, (5, 7), 7), (2, (9, 4), 8), (1, (6, 6), 2048), (2, (3, 3), 1)])
def test_mix_ffn_row_blocks_equal_the_token_path(monkeypatch, n, hw, pixels):
    """Gradient-free CPU eval makes the hidden map a few image rows at a time (one row of context each side for the
    depth-wise conv): the token path's values for any block height, first and last rows included."""
    from seglab.models.backbones import mit

    monkeypatch.setattr(mit, "PIXELS_PER_BLOCK", pixels)
    torch.manual_seed(0)
    ffn = MixFFN(embed_dims=6, feedforward_channels=10).double().eval()
    x = torch.randn(n, hw[0] * hw[1], 6, dtype=torch.float64)
    calls = []
    real = MixFFN._by_row_blocks
    monkeypatch.setattr(MixFFN, "_by_row_blocks", lambda self, *a: calls.append(1) or real(self, *a))
    with torch.no_grad():
        blocked = ffn(x, hw)
        torch.testing.assert_close(blocked, x + ffn._on_tokens(x, hw), rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(blocked, x + _ffn_in_mmseg_order(ffn, x, hw), rtol=1e-12, atol=1e-12)
    assert calls == [1]
    ffn(x, hw)  # with gradients: the token path
    ffn.train()
    with torch.no_grad():
        ffn(x, hw)  # training mode (dropout): the token path
    assert calls == [1]


def _ffn_in_mmseg_order(ffn: MixFFN, x: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
    """MMSeg's order: tokens to an NCHW map, the four layers, back to tokens."""
    n, length, c = x.shape
    out = ffn.layers(x.transpose(1, 2).reshape(n, c, *hw))
    return out.flatten(2).transpose(1, 2)
