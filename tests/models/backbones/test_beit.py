"""BEiT / MAE: relative position bias on SDPA equals the softmax formula, other grids, loading, MAE init."""
from __future__ import annotations

import math

import pytest
import torch

from seglab.models.backbones import MAE, BEiT
from seglab.models.backbones.beit import (
    BEiTAttention,
    beit_relative_position_index,
    resize_beit_relative_position_table,
)

TINY = dict(img_size=16, patch_size=8, embed_dims=8, num_layers=2, num_heads=2)


def test_index_gives_cls_entries_and_relative_offsets():
    index = beit_relative_position_index(2, 3)
    num_relative = 3 * 5
    assert index.shape == (7, 7)
    assert index[0, 1] == num_relative and index[1, 0] == num_relative + 1 and index[0, 0] == num_relative + 2
    # token 1 = (0, 0), token 6 = (1, 2): offset (-1, -2) -> ((-1 + 1) * 5 + (-2 + 2))
    assert index[1, 6] == 0 and index[6, 1] == (1 + 1) * 5 + (2 + 2)


@pytest.mark.parametrize("bias", ["qv_bias", True, False])
def test_attention_on_sdpa_equals_explicit_softmax(bias):
    torch.manual_seed(0)
    attn = BEiTAttention(8, 2, (2, 3), bias=bias).eval()
    for p in attn.parameters():
        torch.nn.init.normal_(p)
    x = torch.randn(2, 7, 8)
    if bias == "qv_bias":
        qkv_bias = torch.cat((attn.q_bias, torch.zeros(8), attn.v_bias))
        qkv = x @ attn.qkv.weight.t() + qkv_bias
    else:
        qkv = attn.qkv(x)
    q, k, v = qkv.reshape(2, 7, 3, 2, 4).permute(2, 0, 3, 1, 4)
    table = attn.relative_position_bias_table
    rel = torch.stack([torch.stack([table[attn.relative_position_index[i, j]] for j in range(7)]) for i in range(7)])
    logits = q @ k.transpose(-2, -1) / math.sqrt(4) + rel.permute(2, 0, 1)
    expected = attn.proj((logits.softmax(-1) @ v).transpose(1, 2).reshape(2, 7, 8))
    with torch.no_grad():
        torch.testing.assert_close(attn(x), expected, atol=1e-5, rtol=1e-5)


def test_other_grid_uses_a_resized_table_and_same_grid_is_exact():
    table = torch.randn(3 * 3 + 3, 2)
    torch.testing.assert_close(resize_beit_relative_position_table(table, (2, 2), (2, 2)), table)
    constant = torch.full((9 + 3, 2), 0.7)
    torch.testing.assert_close(resize_beit_relative_position_table(constant, (2, 2), (3, 4)),
                               torch.full((5 * 7 + 3, 2), 0.7))
    model = BEiT(**TINY).eval()
    with torch.no_grad():
        (out,) = model(torch.randn(1, 3, 24, 40))
    assert out.shape == (1, 8, 3, 5)


def test_pretrained_tables_of_another_grid_are_resized_and_index_buffers_ignored(tmp_path):
    source = BEiT(**{**TINY, "img_size": 24})  # 3x3 grid: 5*5 + 3 rows
    with torch.no_grad():
        source.layers[0].attn.relative_position_bias_table.fill_(0.3)
        source.layers[0].attn.relative_position_index.zero_()  # must not reach the model
    path = tmp_path / "beit.pth"
    torch.save(source.state_dict(), path)
    model = BEiT(**TINY, init_cfg=dict(type="Pretrained", checkpoint=str(path)))
    model.init_weights()
    attn = model.layers[0].attn
    torch.testing.assert_close(attn.relative_position_bias_table.detach(), torch.full((3 * 3 + 3, 2), 0.3))
    assert torch.equal(attn.relative_position_index, beit_relative_position_index(2, 2))
    torch.testing.assert_close(model.layers[1].gamma_2, source.layers[1].gamma_2)


def test_mae_rescales_output_projections_by_depth_and_resizes_pos_embed(tmp_path):
    torch.manual_seed(0)
    model = MAE(**{**TINY, "num_layers": 8})
    std = [float(layer.attn.proj.weight.detach().std()) for layer in model.layers]
    assert std[7] < std[0] / 2  # divided by sqrt(2 * 8) vs sqrt(2)
    assert torch.all(model.pos_embed == 0)  # MMSeg leaves MAE's pos_embed at zero
    source = MAE(**{**TINY, "img_size": 32})  # 4x4 grid
    with torch.no_grad():
        source.pos_embed.normal_()
    path = tmp_path / "mae.pth"
    torch.save({"state_dict": source.state_dict()}, path)
    target = MAE(**TINY, init_cfg=dict(type="Pretrained", checkpoint=str(path)))
    target.init_weights()
    assert target.pos_embed.shape == (1, 5, 8)
    torch.testing.assert_close(target.pos_embed[:, 0], source.pos_embed[:, 0])
    with torch.no_grad():
        (out,) = target(torch.randn(1, 3, 24, 32))  # 3x4 grid: the embedding is resized at run time
    assert out.shape == (1, 8, 3, 4)
