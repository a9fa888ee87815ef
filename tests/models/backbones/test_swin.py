"""SwinTransformer: SDPA window attention equals the softmax formula, masks, padding, freezing, loading."""
from __future__ import annotations

import warnings

import pytest
import torch

from seglab.models.backbones import SwinTransformer
from seglab.models.backbones.swin import (
    ShiftWindowMSA,
    WindowMSA,
    resize_relative_position_bias_table,
    shifted_window_mask,
)
from seglab.registry import ConfigError

TINY = dict(embed_dims=8, depths=(2, 2), num_heads=(1, 2), strides=(4, 2), out_indices=(0, 1), window_size=3,
            drop_path_rate=0.0)


def _explicit_window_attention(msa: WindowMSA, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """softmax(q k^T * scale + bias [+ mask]) v, with the bias built from the table by explicit coordinates."""
    b, n, c = x.shape
    heads = msa.num_heads
    wh, ww = msa.window_size
    bias = torch.empty(heads, n, n)
    for i in range(n):
        for j in range(n):
            dy, dx = i // ww - j // ww, i % ww - j % ww
            bias[:, i, j] = msa.relative_position_bias_table[(dy + wh - 1) * (2 * ww - 1) + dx + ww - 1]
    q, k, v = msa.qkv(x).reshape(b, n, 3, heads, c // heads).permute(2, 0, 3, 1, 4)
    logits = q @ k.transpose(-2, -1) * msa.scale + bias
    if mask is not None:
        logits = logits.view(b // mask.shape[0], mask.shape[0], heads, n, n) + mask[None, :, None]
        logits = logits.view(b, heads, n, n)
    out = (logits.softmax(-1) @ v).transpose(1, 2).reshape(b, n, c)
    return msa.proj(out)


@pytest.mark.parametrize("qk_scale", [None, 0.3])
@pytest.mark.parametrize("with_mask", [False, True])
def test_window_attention_on_sdpa_equals_explicit_softmax(qk_scale, with_mask):
    torch.manual_seed(0)
    msa = WindowMSA(8, 2, (3, 3), qk_scale=qk_scale).eval()
    torch.nn.init.normal_(msa.relative_position_bias_table)
    x = torch.randn(2 * 4, 9, 8)  # 2 images x 4 windows
    mask = shifted_window_mask(6, 6, 3, 1, x.device) if with_mask else None
    with torch.no_grad():
        torch.testing.assert_close(msa(x, mask), _explicit_window_attention(msa, x, mask), atol=1e-5, rtol=1e-5)


def test_shift_mask_separates_the_regions_of_a_shifted_map():
    mask = shifted_window_mask(6, 6, 3, 1, torch.device("cpu"))
    assert mask.shape == (4, 9, 9)
    assert torch.all(mask[0] == 0)  # the top-left window is one region
    # The bottom-right window holds 4 regions (2x2 rows/cols split at shift 1): token 0 and token 8 differ.
    assert mask[3, 0, 8] == -100.0 and mask[3, 0, 1] == 0.0 and mask[3, 0, 2] == -100.0
    assert set(mask.unique().tolist()) == {0.0, -100.0}


@pytest.mark.parametrize("hw", [(5, 7), (6, 6)])
def test_shifted_window_attention_keeps_shape_and_images_independent(hw):
    torch.manual_seed(0)
    attn = ShiftWindowMSA(8, 2, 3, shift_size=1).eval()
    x = torch.randn(2, hw[0] * hw[1], 8)
    with torch.no_grad():
        out = attn(x, hw)
    assert out.shape == x.shape and torch.isfinite(out).all()
    # Each image is processed on its own: batch mixing would change image 0 when image 1 changes.
    x2 = x.clone()
    x2[1] += 1
    with torch.no_grad():
        torch.testing.assert_close(attn(x2, hw)[0], out[0])


def test_declared_channels_and_strides_match_outputs_at_odd_sizes():
    model = SwinTransformer(**TINY).eval()
    assert model.out_channels == [8, 16] and model.out_strides == [4, 8]
    with torch.no_grad():
        outs = model(torch.randn(1, 3, 37, 45))
    assert [tuple(o.shape) for o in outs] == [(1, 8, 10, 12), (1, 16, 5, 6)]


def test_relative_position_table_resize_keeps_a_constant_table_constant():
    table = torch.full((9, 2), 0.5)  # window 2
    resized = resize_relative_position_bias_table(table, 25)  # window 3
    assert resized.shape == (25, 2)
    torch.testing.assert_close(resized, torch.full((25, 2), 0.5))


def test_pretrained_with_another_window_size_loads_resized_tables(tmp_path):
    source = SwinTransformer(**{**TINY, "window_size": 2})
    with torch.no_grad():
        for name, p in source.named_parameters():
            if "relative_position_bias_table" in name:
                p.fill_(0.25)
    path = tmp_path / "swin_w2.pth"
    state = {f"backbone.{k}": v for k, v in source.state_dict().items() if "relative_position_index" not in k}
    torch.save({"state_dict": state}, path)
    model = SwinTransformer(**TINY, init_cfg=dict(type="Pretrained", checkpoint=str(path)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # everything fits: no warning about missing or mismatched keys
        model.init_weights()
    table = model.stages[1].blocks[0].attn.w_msa.relative_position_bias_table
    assert table.shape == (25, 2)
    torch.testing.assert_close(table.detach(), torch.full((25, 2), 0.25))
    torch.testing.assert_close(model.stages[0].blocks[1].ffn.layers[1].weight,
                               source.stages[0].blocks[1].ffn.layers[1].weight)


def test_absolute_position_embedding_is_resized_to_the_input_grid():
    model = SwinTransformer(**TINY, pretrain_img_size=24, use_abs_pos_embed=True).eval()
    assert model.absolute_pos_embed.shape == (1, 36, 8)
    with torch.no_grad():
        outs = model(torch.randn(1, 3, 32, 40))  # 8x10 grid, not the 6x6 of pretraining
    assert outs[0].shape == (1, 8, 8, 10)


def test_default_init_is_trunc_normal_linears_and_unit_norms():
    model = SwinTransformer(**TINY)
    qkv = model.stages[0].blocks[0].attn.w_msa.qkv
    assert torch.all(qkv.bias == 0)
    assert torch.all(model.norm0.weight == 1) and torch.all(model.norm0.bias == 0)
    assert abs(float(qkv.weight.detach().std()) - 0.02) < 0.006


def test_frozen_stages_stop_gradients_and_stay_in_eval_mode():
    model = SwinTransformer(**TINY, frozen_stages=1).train()
    assert not any(p.requires_grad for p in model.patch_embed.parameters())
    assert not any(p.requires_grad for p in model.stages[0].parameters())
    assert not model.norm0.weight.requires_grad and model.norm1.weight.requires_grad
    assert not model.stages[0].training and model.stages[1].training


def test_with_cp_gives_the_same_gradients():
    torch.manual_seed(0)
    a = SwinTransformer(**TINY)
    b = SwinTransformer(**TINY, with_cp=True)
    b.load_state_dict(a.state_dict())
    x = torch.randn(1, 3, 24, 24)
    sum(o.sum() for o in a(x)).backward()
    sum(o.sum() for o in b(x)).backward()
    for (name, pa), pb in zip(a.named_parameters(), b.parameters()):
        torch.testing.assert_close(pa.grad, pb.grad, msg=name)


def test_bad_arguments_fail_with_the_fix():
    with pytest.raises(ConfigError, match="patch_size"):
        SwinTransformer(**{**TINY, "strides": (2, 2)})
    with pytest.raises(ConfigError, match="one entry per stage"):
        SwinTransformer(**{**TINY, "num_heads": (1,)})
    with pytest.raises(ConfigError, match="out_indices"):
        SwinTransformer(**{**TINY, "out_indices": (2,)})
