"""``seglab convert-weights twins``: official (Meituan-AutoML) PCPVT and SVT state dicts load strictly after conversion
and the merged q/kv projection computes what upstream's separate q and kv Linears do."""
from __future__ import annotations

import pytest
import torch

from seglab.cli import main
from seglab.models.backbones import PCPVT, SVT
from seglab.tools.convert_weights import CONVERTERS
from seglab.tools.convert_weights.twins import convert

# Two stages of widths 4 and 8; SVT: windows (2, 2), blocks 0 and 2 locally grouped, 1 global.
DIMS, DEPTHS = (4, 8), (3, 2)
CFG = dict(embed_dims=list(DIMS), num_heads=[1, 2], patch_sizes=[4, 2], strides=[4, 2], mlp_ratios=[2, 2],
           depths=list(DEPTHS), sr_ratios=[2, 1], qkv_bias=True, out_indices=(0, 1), norm_after_stage=False)


def upstream_state(svt: bool, qkv_bias: bool = True) -> dict[str, torch.Tensor]:
    """Random weights in the upstream ``gvt.py`` layout for CFG (CPVTV2 / ALTGVT), with the ImageNet head."""
    gen = torch.Generator().manual_seed(0)

    def t(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=gen)

    state: dict[str, torch.Tensor] = {}
    in_ch = 3
    for i, (c, k) in enumerate(zip(DIMS, CFG["patch_sizes"])):
        state |= {f"patch_embeds.{i}.proj.weight": t(c, in_ch, k, k), f"patch_embeds.{i}.proj.bias": t(c),
                  f"patch_embeds.{i}.norm.weight": t(c), f"patch_embeds.{i}.norm.bias": t(c)}
        in_ch = c
    for i, (c, depth, sr) in enumerate(zip(DIMS, DEPTHS, CFG["sr_ratios"])):
        for j in range(depth):
            b = f"blocks.{i}.{j}."
            state |= {b + "norm1.weight": t(c), b + "norm1.bias": t(c)}
            if svt and j % 2 == 0:  # GroupAttention
                state[b + "attn.qkv.weight"] = t(3 * c, c)
                if qkv_bias:
                    state[b + "attn.qkv.bias"] = t(3 * c)
            else:  # Attention with spatial reduction
                state[b + "attn.q.weight"] = t(c, c)
                if qkv_bias:
                    state[b + "attn.q.bias"] = t(c)
                state[b + "attn.kv.weight"] = t(2 * c, c)
                if qkv_bias:
                    state[b + "attn.kv.bias"] = t(2 * c)
                if sr > 1:
                    state |= {b + "attn.sr.weight": t(c, c, sr, sr), b + "attn.sr.bias": t(c),
                              b + "attn.norm.weight": t(c), b + "attn.norm.bias": t(c)}
            state |= {b + "attn.proj.weight": t(c, c), b + "attn.proj.bias": t(c),
                      b + "norm2.weight": t(c), b + "norm2.bias": t(c), b + "mlp.fc1.weight": t(2 * c, c),
                      b + "mlp.fc1.bias": t(2 * c), b + "mlp.fc2.weight": t(c, 2 * c), b + "mlp.fc2.bias": t(c)}
    for i, c in enumerate(DIMS):
        state |= {f"pos_block.{i}.proj.0.weight": t(c, 1, 3, 3), f"pos_block.{i}.proj.0.bias": t(c)}
    state |= {"norm.weight": t(8), "norm.bias": t(8), "head.weight": t(10, 8), "head.bias": t(10)}
    return state


@pytest.mark.parametrize("svt", [False, True], ids=["pcpvt", "svt"])
def test_converted_upstream_weights_load_strictly_with_the_right_values(svt: bool):
    up = upstream_state(svt)
    model = SVT(**CFG, windiow_sizes=[2, 2]) if svt else PCPVT(**CFG)
    ours = convert(up)
    model.load_state_dict(ours, strict=True)
    gsa = model.layers[0][1].attn
    assert torch.equal(gsa.attn.in_proj_weight, torch.cat([up["blocks.0.1.attn.q.weight"], up["blocks.0.1.attn.kv.weight"]]))
    assert torch.equal(gsa.attn.in_proj_bias, torch.cat([up["blocks.0.1.attn.q.bias"], up["blocks.0.1.attn.kv.bias"]]))
    assert torch.equal(gsa.attn.out_proj.weight, up["blocks.0.1.attn.proj.weight"])
    assert torch.equal(gsa.sr.weight, up["blocks.0.1.attn.sr.weight"])
    first = model.layers[1][0]
    if svt:
        assert torch.equal(first.attn.qkv.weight, up["blocks.1.0.attn.qkv.weight"])
        assert torch.equal(first.attn.proj.bias, up["blocks.1.0.attn.proj.bias"])
    assert torch.equal(first.ffn.layers[0][0].weight, up["blocks.1.0.mlp.fc1.weight"])
    assert torch.equal(first.ffn.layers[1].weight, up["blocks.1.0.mlp.fc2.weight"])
    assert torch.equal(model.position_encodings[1].proj.weight, up["pos_block.1.proj.0.weight"])
    assert torch.equal(model.patch_embeds[1].projection.weight, up["patch_embeds.1.proj.weight"])
    assert not any(k.startswith(("head", "norm.")) for k in ours)


def test_merged_in_projection_computes_upstream_q_and_kv():
    up = upstream_state(svt=False)
    model = PCPVT(**CFG).eval()
    model.load_state_dict(convert(up))
    attn = model.layers[1][0].attn  # sr_ratio 1: keys and values from the tokens themselves
    x = torch.randn(1, 6, 8)
    q = x @ up["blocks.1.0.attn.q.weight"].t() + up["blocks.1.0.attn.q.bias"]
    k, v = (x @ up["blocks.1.0.attn.kv.weight"].t() + up["blocks.1.0.attn.kv.bias"]).split(8, dim=-1)
    q, k, v = (t.view(1, 6, 2, 4).transpose(1, 2) for t in (q, k, v))
    heads = torch.softmax(q @ k.transpose(-1, -2) / 2.0, dim=-1) @ v
    expected = heads.transpose(1, 2).reshape(1, 6, 8) @ up["blocks.1.0.attn.proj.weight"].t() \
        + up["blocks.1.0.attn.proj.bias"]
    with torch.no_grad():
        torch.testing.assert_close(attn(x, (2, 3)), expected, atol=1e-5, rtol=1e-5)


def test_unknown_keys_missing_kv_and_biasless_gsa_fail():
    with pytest.raises(KeyError, match="qkv_bias=False"):
        convert(upstream_state(svt=False, qkv_bias=False))
    up = upstream_state(svt=True)
    with pytest.raises(KeyError, match="cls_token"):
        convert({**up, "cls_token": torch.zeros(1)})
    del up["blocks.0.1.attn.kv.weight"]
    with pytest.raises(KeyError, match="blocks.0.1.attn.kv.weight"):
        convert(up)


def test_cli_writes_a_checkpoint_that_pretrained_init_loads(tmp_path, capsys):
    assert "twins" in CONVERTERS
    src, dst = tmp_path / "alt_gvt_tiny.pth", tmp_path / "out" / "alt_gvt_tiny_mmseg.pth"
    torch.save(upstream_state(svt=True), src)
    assert main(["convert-weights", "twins", str(src), str(dst)]) == 0
    assert "wrote" in capsys.readouterr().out
    model = SVT(**CFG, windiow_sizes=[2, 2], init_cfg=dict(type="Pretrained", checkpoint=str(dst)))
    assert model.init_weights() is True
    expected = convert(upstream_state(svt=True))
    assert set(model.state_dict()) == set(expected)
    assert all(torch.equal(model.state_dict()[k], v) for k, v in expected.items())
    with pytest.raises(KeyError, match="not part of an upstream Twins checkpoint"):  # MMSeg layout is not upstream
        main(["convert-weights", "twins", str(dst), str(tmp_path / "again.pth")])
