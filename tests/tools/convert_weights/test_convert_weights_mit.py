"""``seglab convert-weights mit``: an upstream (NVlabs SegFormer) MiT state dict loads strictly after conversion."""
from __future__ import annotations

import pytest
import torch

from seglab.cli import main
from seglab.models.backbones import MixVisionTransformer
from seglab.tools.convert_weights import CONVERTERS
from seglab.tools.convert_weights.mit import convert

# A two-stage MiT: stage widths 4 and 8, spatial reduction only in stage 1.
CFG = dict(embed_dims=4, num_stages=2, num_layers=[1, 2], num_heads=[1, 2], patch_sizes=[7, 3], strides=[4, 2],
           sr_ratios=[2, 1], out_indices=[0, 1], mlp_ratio=2)


def upstream_state(qkv_bias: bool = True) -> dict[str, torch.Tensor]:
    """Random weights in the NVlabs ``mix_transformer.py`` layout for CFG (plus its ImageNet head)."""
    gen = torch.Generator().manual_seed(0)

    def t(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=gen)

    state: dict[str, torch.Tensor] = {}
    dims, in_ch = [4, 8], 3
    for i, (c, k, depth, sr) in enumerate(zip(dims, CFG["patch_sizes"], CFG["num_layers"], CFG["sr_ratios"]), 1):
        state |= {f"patch_embed{i}.proj.weight": t(c, in_ch, k, k), f"patch_embed{i}.proj.bias": t(c),
                  f"patch_embed{i}.norm.weight": t(c), f"patch_embed{i}.norm.bias": t(c)}
        for j in range(depth):
            b = f"block{i}.{j}."
            state |= {b + "norm1.weight": t(c), b + "norm1.bias": t(c), b + "attn.q.weight": t(c, c)}
            if qkv_bias:
                state[b + "attn.q.bias"] = t(c)
            state[b + "attn.kv.weight"] = t(2 * c, c)
            if qkv_bias:
                state[b + "attn.kv.bias"] = t(2 * c)
            state |= {b + "attn.proj.weight": t(c, c), b + "attn.proj.bias": t(c)}
            if sr > 1:
                state |= {b + "attn.sr.weight": t(c, c, sr, sr), b + "attn.sr.bias": t(c),
                          b + "attn.norm.weight": t(c), b + "attn.norm.bias": t(c)}
            h = 2 * c
            state |= {b + "norm2.weight": t(c), b + "norm2.bias": t(c), b + "mlp.fc1.weight": t(h, c),
                      b + "mlp.fc1.bias": t(h), b + "mlp.dwconv.dwconv.weight": t(h, 1, 3, 3),
                      b + "mlp.dwconv.dwconv.bias": t(h), b + "mlp.fc2.weight": t(c, h), b + "mlp.fc2.bias": t(c)}
        state |= {f"norm{i}.weight": t(c), f"norm{i}.bias": t(c)}
        in_ch = c
    state |= {"head.weight": t(1000, 8), "head.bias": t(1000)}
    return state


def test_converted_upstream_weights_load_strictly_with_the_right_values():
    up = upstream_state()
    model = MixVisionTransformer(**CFG)
    ours = convert(up)
    model.load_state_dict(ours, strict=True)
    attn = model.layers[1][1][1].attn
    assert torch.equal(attn.attn.in_proj_weight, torch.cat([up["block2.1.attn.q.weight"], up["block2.1.attn.kv.weight"]]))
    assert torch.equal(attn.attn.out_proj.weight, up["block2.1.attn.proj.weight"])
    ffn = model.layers[0][1][0].ffn.layers
    assert torch.equal(ffn[0].weight[:, :, 0, 0], up["block1.0.mlp.fc1.weight"])
    assert torch.equal(ffn[1].weight, up["block1.0.mlp.dwconv.dwconv.weight"])
    assert torch.equal(ffn[4].weight[:, :, 0, 0], up["block1.0.mlp.fc2.weight"])
    assert torch.equal(model.layers[0][1][0].attn.sr.weight, up["block1.0.attn.sr.weight"])
    assert torch.equal(model.layers[1][0].projection.weight, up["patch_embed2.proj.weight"])
    assert torch.equal(model.layers[1][2].weight, up["norm2.weight"])
    assert not any(k.startswith("head") for k in ours)


def test_unknown_keys_missing_kv_and_biasless_qkv_fail():
    with pytest.raises(KeyError, match="qkv_bias=False"):
        convert(upstream_state(qkv_bias=False))
    up = upstream_state()
    with pytest.raises(KeyError, match="pos_embed"):
        convert({**up, "pos_embed": torch.zeros(1)})
    del up["block1.0.attn.kv.weight"]
    with pytest.raises(KeyError, match="block1.0.attn.kv.weight"):
        convert(up)


def test_cli_writes_a_checkpoint_that_pretrained_init_loads(tmp_path, capsys):
    assert "mit" in CONVERTERS
    src, dst = tmp_path / "mit_tiny.pth", tmp_path / "out" / "mit_tiny_mmseg.pth"
    torch.save(upstream_state(), src)
    assert main(["convert-weights", "mit", str(src), str(dst)]) == 0
    assert "wrote" in capsys.readouterr().out
    model = MixVisionTransformer(**CFG, init_cfg=dict(type="Pretrained", checkpoint=str(dst)))
    model.init_weights()
    expected = convert(upstream_state())
    assert set(model.state_dict()) == set(expected)
    assert all(torch.equal(model.state_dict()[k], v) for k, v in expected.items())
    with pytest.raises(KeyError, match="not part of an upstream MiT checkpoint"):  # MMSeg layout is not upstream
        main(["convert-weights", "mit", str(dst), str(tmp_path / "again.pth")])
