"""Twins (PCPVT, SVT): SDPA attention equals the explicit softmax formula, MMSeg's window padding rule,
PEG, key layout, declared shapes, argument checks and init. Outputs against MMSeg: test_twins_reference.py."""
from __future__ import annotations

import math

import pytest
import torch
from test_mit import explicit_efficient_attention  # tests/models/backbones is on sys.path (prepend mode)
from torch.nn import functional as F

from seglab.models.backbones.twins import (
    PCPVT,
    SVT,
    ConditionalPositionEncoding,
    GlobalSubsampledAttention,
    GSAEncoderLayer,
    LocallyGroupedSelfAttention,
    LSAEncoderLayer,
)
from seglab.registry import ConfigError


def explicit_lsa(attn: LocallyGroupedSelfAttention, x: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
    """Window by window: zero-pad the map, softmax(q k^T * scale + mask) v per head, crop, project.

    The mask is -1000 between a padded and a real token, applied (MMSeg's rule) only when both the
    bottom and the right side are padded.
    """
    n, _, c = x.shape
    h, w = hw
    ws, heads = attn.window_size, attn.num_heads
    d = c // heads
    pad_b, pad_r = -h % ws, -w % ws
    grid = torch.zeros(n, h + pad_b, w + pad_r, c)
    grid[:, :h, :w] = x.view(n, h, w, c)
    is_pad = torch.ones(h + pad_b, w + pad_r, dtype=torch.bool)
    is_pad[:h, :w] = False
    masked = pad_b > 0 and pad_r > 0
    out = torch.zeros_like(grid)
    for top in range(0, h + pad_b, ws):
        for left in range(0, w + pad_r, ws):
            tokens = grid[:, top:top + ws, left:left + ws].reshape(n, ws * ws, c)
            pads = is_pad[top:top + ws, left:left + ws].reshape(-1)
            bias = torch.where(pads[:, None] != pads[None, :], -1000.0, 0.0) if masked else torch.zeros(ws * ws, ws * ws)
            q, k, v = F.linear(tokens, attn.qkv.weight, attn.qkv.bias).split(c, dim=-1)
            for head in range(heads):
                sl = slice(head * d, (head + 1) * d)
                weights = torch.softmax(q[..., sl] @ k[..., sl].transpose(1, 2) * attn.scale + bias, dim=-1)
                out[:, top:top + ws, left:left + ws, sl] = (weights @ v[..., sl]).view(n, ws, ws, d)
    return attn.proj(out[:, :h, :w].reshape(n, h * w, c))


@pytest.mark.parametrize("hw", [(6, 9), (7, 9), (6, 7), (5, 7), (2, 2)],
                         ids=["no-pad", "bottom-only", "right-only", "both", "one-window"])
def test_lsa_on_sdpa_equals_explicit_windowed_softmax(hw: tuple[int, int]):
    torch.manual_seed(0)
    attn = LocallyGroupedSelfAttention(8, num_heads=2, qkv_bias=True, window_size=3).eval()
    x = torch.randn(2, hw[0] * hw[1], 8)
    with torch.no_grad():
        torch.testing.assert_close(attn(x, hw), explicit_lsa(attn, x, hw), atol=1e-5, rtol=1e-5)


def test_lsa_masks_padding_only_when_both_sides_pad_as_mmseg():
    attn = LocallyGroupedSelfAttention(4, num_heads=1, window_size=3)
    assert attn.padding_mask((6, 9)) is None and attn.padding_mask((7, 9)) is None
    assert attn.padding_mask((6, 7)) is None  # right-only: MMSeg's ``mask[:, -0:]`` marks every token alike
    mask = attn.padding_mask((5, 7))  # 2x3 windows; the last window row and column hold padding
    assert mask.shape == (6, 9, 9)
    assert not mask[0].any()  # a window of real tokens only
    # window (1, 2): rows 3..5 (5 is padding), cols 6..8 (7, 8 are padding) -> real tokens (0,0), (1,0)
    real = torch.zeros(9, dtype=torch.bool)
    real[[0, 3]] = True
    assert torch.equal(mask[5] != 0, real[:, None] != real[None, :])
    assert set(mask.unique().tolist()) == {-1000.0, 0.0}


def test_lsa_qk_scale_reaches_the_attention():
    torch.manual_seed(0)
    attn = LocallyGroupedSelfAttention(8, num_heads=2, window_size=2, qk_scale=0.1).eval()
    assert attn.scale == 0.1
    x = torch.randn(1, 16, 8)
    with torch.no_grad():
        torch.testing.assert_close(attn(x, (4, 4)), explicit_lsa(attn, x, (4, 4)), atol=1e-5, rtol=1e-5)
        default = LocallyGroupedSelfAttention(8, num_heads=2, window_size=2).eval()
        default.load_state_dict(attn.state_dict())
        assert default.scale == 0.5 and not torch.allclose(default(x, (4, 4)), attn(x, (4, 4)))


@pytest.mark.parametrize("sr_ratio", [1, 2])
def test_gsa_on_sdpa_equals_explicit_softmax_without_identity(sr_ratio: int):
    torch.manual_seed(0)
    attn = GlobalSubsampledAttention(16, 4, qkv_bias=True, sr_ratio=sr_ratio).eval()
    x, hw = torch.randn(2, 6 * 8, 16), (6, 8)
    with torch.no_grad():
        torch.testing.assert_close(attn(x, hw), explicit_efficient_attention(attn, x, hw) - x, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(attn(x, hw, identity=x), explicit_efficient_attention(attn, x, hw))


def test_encoder_layers_are_pre_norm_residuals_with_mmseg_keys():
    torch.manual_seed(0)
    x, hw = torch.randn(1, 4 * 6, 8), (4, 6)
    for layer in (GSAEncoderLayer(8, 2, 16, sr_ratio=2).eval(), LSAEncoderLayer(8, 2, 16, window_size=3).eval()):
        with torch.no_grad():
            mid = x + layer.attn(layer.norm1(x), hw)
            expected = mid + layer.ffn.layers[1](F.gelu(layer.ffn.layers[0][0](layer.norm2(mid))))
            torch.testing.assert_close(layer(x, hw), expected)
        assert [k.split(".")[0] for k in layer.state_dict()][:2] == ["norm1", "norm1"]
    assert "attn.attn.in_proj_weight" in GSAEncoderLayer(8, 2, 16).state_dict()
    assert {"attn.qkv.weight", "attn.proj.weight", "ffn.layers.0.0.weight", "ffn.layers.1.weight"} <= set(
        LSAEncoderLayer(8, 2, 16).state_dict())


def test_peg_adds_a_depthwise_conv_of_the_map():
    torch.manual_seed(0)
    peg = ConditionalPositionEncoding(4)
    x, hw = torch.randn(2, 3 * 5, 4), (3, 5)
    grid = x.transpose(1, 2).reshape(2, 4, 3, 5)
    expected = grid + F.conv2d(grid, peg.proj.weight, peg.proj.bias, padding=1, groups=4)
    torch.testing.assert_close(peg(x, hw), expected.flatten(2).transpose(1, 2))


def test_pcpvt_layout_shapes_and_drop_path():
    model = PCPVT(embed_dims=[8, 16, 16, 32], num_heads=[1, 2, 2, 4], depths=[2, 1, 1, 2], mlp_ratios=[2, 2, 2, 2],
                  qkv_bias=True, out_indices=(1, 3), drop_path_rate=0.3)
    assert model.out_channels == [16, 32] and model.out_strides == [8, 32]
    keys = list(model.state_dict())
    assert keys[0] == "patch_embeds.0.projection.weight" and "position_encodings.3.proj.weight" in keys
    assert keys.index("layers.3.1.ffn.layers.1.bias") < keys.index("position_encodings.0.proj.weight")
    assert "layers.0.0.attn.sr.weight" in keys and "layers.3.0.attn.sr.weight" not in keys  # sr_ratios 8, 4, 2, 1
    assert not any(k.startswith("norm_list") for k in keys)
    rates = [layer.ffn.dropout_layer.drop_prob for stage in model.layers for layer in stage]
    assert rates == pytest.approx([0.0, 0.06, 0.12, 0.18, 0.24, 0.3])
    outs = model.eval()(torch.randn(1, 3, 70, 45))
    assert [tuple(o.shape) for o in outs] == [(1, 16, 9, 6), (1, 32, 3, 2)]  # ceil(70 / 8) x ceil(45 / 8), ...


def test_svt_alternates_lsa_and_gsa_and_norms_each_stage():
    model = SVT(embed_dims=[8, 16], num_heads=[1, 2], patch_sizes=[4, 2], strides=[4, 2], mlp_ratios=[2, 2],
                depths=[3, 2], sr_ratios=[2, 1], windiow_sizes=[5, 2], out_indices=(0, 1))
    kinds = [[type(layer.attn).__name__[:3] for layer in stage] for stage in model.layers]
    assert kinds == [["Loc", "Glo", "Loc"], ["Loc", "Glo"]]
    assert [model.layers[0][0].attn.window_size, model.layers[1][0].attn.window_size] == [5, 2]
    assert "norm_list.1.weight" in model.state_dict()
    x = torch.randn(1, 3, 44, 36)
    with torch.no_grad():
        stage1 = model.eval()(x)[0]
        model.norm_list[0].weight.mul_(2.0)
        torch.testing.assert_close(model(x)[0] - model.norm_list[0].bias[:, None, None],
                                   2.0 * (stage1 - model.norm_list[0].bias[:, None, None]))


def test_svt_defaults_are_twins_svt_s():
    model = SVT()
    assert [len(stage) for stage in model.layers] == [2, 2, 10, 4]
    assert model.out_channels == [64, 128, 256, 512] and model.windiow_sizes == [7, 7, 7, 7]


@pytest.mark.parametrize("kwargs,match", [
    (dict(depths=[1, 1]), "2 stages"),
    (dict(out_indices=(4,)), "out_indices"),
    (dict(embed_dims=[6, 8, 8, 8], num_heads=[4, 1, 1, 1], depths=[1, 1, 1, 1], type="SVT"), "divisible"),
    (dict(windiow_sizes=[7, 7], type="SVT"), "windiow_sizes"),
])
def test_bad_arguments_fail_naming_them(kwargs: dict, match: str):
    cls = SVT if kwargs.pop("type", None) == "SVT" else PCPVT
    with pytest.raises(ConfigError, match=match):
        cls(**kwargs)


def test_default_init_is_mmsegs_and_reports_no_pretrained():
    torch.manual_seed(0)
    model = PCPVT(embed_dims=[8, 16], num_heads=[1, 2], patch_sizes=[4, 2], strides=[4, 2], mlp_ratios=[2, 2],
                  depths=[1, 1], sr_ratios=[2, 1], out_indices=(0, 1))
    assert model.init_weights() is False
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    weights = torch.cat([m.weight.flatten() for m in linears])
    assert weights.std().item() == pytest.approx(0.02, rel=0.1)  # trunc_normal(std=0.02)
    assert not any(m.bias.any() for m in linears if m.bias is not None)
    peg = model.position_encodings[0].proj  # depth-wise: fan_out = 3 * 3 * 8 / 8 groups
    assert peg.weight.std().item() == pytest.approx(math.sqrt(2.0 / 9), rel=0.3)
    norm = model.layers[1][0].norm1
    assert torch.equal(norm.weight, torch.ones(16)) and not norm.bias.any()


def test_masked_windows_run_under_bf16_autocast():
    torch.manual_seed(0)
    attn = LocallyGroupedSelfAttention(8, num_heads=2, qkv_bias=True, window_size=3).eval()
    x, hw = torch.randn(2, 5 * 7, 8), (5, 7)  # padded at the bottom and the right: the mask is used
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        out = attn(x, hw)
    assert out.dtype == torch.bfloat16
    torch.testing.assert_close(out.float(), explicit_lsa(attn, x, hw), atol=0.05, rtol=0.05)
