"""``seglab convert-weights mae``: an official MAE (facebookresearch/mae) encoder loads strictly into seglab's MAE and
computes exactly the upstream ViT (unit layer scales, zero relative position bias)."""
from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from seglab.cli import main
from seglab.models.backbones import MAE
from seglab.tools.convert_weights import CONVERTERS, convert_file
from seglab.tools.convert_weights.mae import convert

GEN = torch.Generator().manual_seed(0)


def _rand(*shape: int) -> torch.Tensor:
    return torch.randn(*shape, generator=GEN) * 0.2


def upstream_mae(dims: int, layers: int = 1, grid: int = 2, extras: bool = True) -> dict[str, torch.Tensor]:
    """The official MAE pretraining layout: ViT encoder on a ``grid`` x ``grid`` patch grid (patch 8), plus the
    decoder and mask token of the full pretraining checkpoint when ``extras``."""
    sd = {"cls_token": _rand(1, 1, dims), "pos_embed": _rand(1, grid * grid + 1, dims),
          "patch_embed.proj.weight": _rand(dims, 3, 8, 8), "patch_embed.proj.bias": _rand(dims)}
    for i in range(layers):
        p = f"blocks.{i}."
        sd |= {p + "norm1.weight": 1 + _rand(dims), p + "norm1.bias": _rand(dims),
               p + "attn.qkv.weight": _rand(3 * dims, dims), p + "attn.qkv.bias": _rand(3 * dims),
               p + "attn.proj.weight": _rand(dims, dims), p + "attn.proj.bias": _rand(dims),
               p + "norm2.weight": 1 + _rand(dims), p + "norm2.bias": _rand(dims),
               p + "mlp.fc1.weight": _rand(4 * dims, dims), p + "mlp.fc1.bias": _rand(4 * dims),
               p + "mlp.fc2.weight": _rand(dims, 4 * dims), p + "mlp.fc2.bias": _rand(dims)}
    sd |= {"norm.weight": 1 + _rand(dims), "norm.bias": _rand(dims)}
    if extras:
        sd |= {"mask_token": _rand(1, 1, 4), "decoder_embed.weight": _rand(4, dims), "decoder_pos_embed": _rand(1, 5, 4),
               "decoder_blocks.0.norm1.weight": _rand(4), "decoder_pred.weight": _rand(192, 4)}
    return sd


def upstream_vit_forward(sd: dict[str, torch.Tensor], x: torch.Tensor, heads: int) -> torch.Tensor:
    """MAE's ViT encoder written out (pre-norm blocks, no layer scale, no relative bias): patch tokens (N, L, C)."""
    tokens = F.conv2d(x, sd["patch_embed.proj.weight"], sd["patch_embed.proj.bias"], stride=8).flatten(2).transpose(1, 2)
    n, length, c = tokens.shape
    t = torch.cat([sd["cls_token"].expand(n, -1, -1), tokens], 1) + sd["pos_embed"]
    d = c // heads
    layer = 0
    while f"blocks.{layer}.norm1.weight" in sd:
        p = f"blocks.{layer}."
        h = F.layer_norm(t, (c,), sd[p + "norm1.weight"], sd[p + "norm1.bias"], eps=1e-6)
        q, k, v = F.linear(h, sd[p + "attn.qkv.weight"], sd[p + "attn.qkv.bias"]).split(c, -1)
        q, k, v = (z.view(n, -1, heads, d).transpose(1, 2) for z in (q, k, v))
        a = (torch.softmax(q @ k.transpose(-1, -2) / d ** 0.5, -1) @ v).transpose(1, 2).reshape(n, -1, c)
        t = t + F.linear(a, sd[p + "attn.proj.weight"], sd[p + "attn.proj.bias"])
        h = F.layer_norm(t, (c,), sd[p + "norm2.weight"], sd[p + "norm2.bias"], eps=1e-6)
        t = t + F.linear(F.gelu(F.linear(h, sd[p + "mlp.fc1.weight"], sd[p + "mlp.fc1.bias"])),
                         sd[p + "mlp.fc2.weight"], sd[p + "mlp.fc2.bias"])
        layer += 1
    t = F.layer_norm(t, (c,), sd["norm.weight"], sd["norm.bias"], eps=1e-6)
    return t[:, 1:]


def test_converted_mae_loads_strictly_and_computes_the_upstream_vit():
    up = upstream_mae(8, layers=2)
    model = MAE(img_size=16, patch_size=8, embed_dims=8, num_layers=2, num_heads=2, out_indices=-1,
                final_norm=True, norm_cfg=dict(type="LN", eps=1e-6)).eval()
    ours = convert(up, num_heads=2)
    model.load_state_dict(ours, strict=True)
    assert torch.equal(model.layers[1].ffn.layers[1].weight, up["blocks.1.mlp.fc2.weight"])
    assert torch.equal(model.ln1.weight, up["norm.weight"])
    assert not any(k.startswith(("decoder", "mask_token")) for k in ours)
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        out = model(x)[-1]
    expected = upstream_vit_forward(up, x, heads=2).transpose(1, 2).reshape(2, 8, 2, 2)
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)


def test_cli_infers_64_wide_heads_and_pretrained_init_resizes_to_the_model_grid(tmp_path, capsys):
    assert "mae" in CONVERTERS
    src, dst = tmp_path / "mae_pretrain_vit_tiny.pth", tmp_path / "out" / "mae_mmseg.pth"
    torch.save({"model": upstream_mae(128)}, src)  # official checkpoints keep the weights under 'model'
    assert main(["convert-weights", "mae", str(src), str(dst)]) == 0
    assert "wrote" in capsys.readouterr().out
    converted = torch.load(dst, weights_only=True)
    assert converted["layers.0.attn.relative_position_bias_table"].shape == (3 * 3 + 3, 2)  # 128 // 64 heads
    same_grid = MAE(img_size=16, patch_size=8, embed_dims=128, num_layers=1, num_heads=2, final_norm=True)
    same_grid.load_state_dict(converted, strict=True)
    # a 24x24 model (3x3 grid): pos_embed and the (zero) relative tables are resized when loading
    bigger = MAE(img_size=24, patch_size=8, embed_dims=128, num_layers=1, num_heads=2, final_norm=True,
                 init_cfg=dict(type="Pretrained", checkpoint=str(dst)))
    assert bigger.init_weights() is True
    assert bigger.pos_embed.shape == (1, 10, 128) and not bigger.layers[0].attn.relative_position_bias_table.any()
    assert torch.equal(bigger.layers[0].gamma_1, torch.ones(128))


def test_bad_checkpoints_fail_naming_the_keys():
    with pytest.raises(KeyError, match="not part of an upstream MAE"):
        convert({**upstream_mae(8), "blocks.0.attn.q_bias": torch.zeros(8)}, num_heads=2)
    with pytest.raises(KeyError, match="square patch grid"):
        convert({**upstream_mae(8), "pos_embed": torch.zeros(1, 7, 8)}, num_heads=2)
    with pytest.raises(ValueError, match="pass num_heads"):
        convert(upstream_mae(8))  # 8 // 64 = 0 heads: a non-standard width needs num_heads


def test_fine_tuned_checkpoint_drops_the_classifier(tmp_path):
    up = {k: v for k, v in upstream_mae(8, extras=False).items() if not k.startswith("norm.")}  # global pooling
    up |= {"fc_norm.weight": _rand(8), "fc_norm.bias": _rand(8), "head.weight": _rand(10, 8), "head.bias": _rand(10)}
    torch.save({"model": up}, tmp_path / "mae_finetuned.pth")
    with pytest.raises(ValueError, match="pass num_heads"):  # 8 // 64 = 0 heads from the CLI's default
        convert_file("mae", str(tmp_path / "mae_finetuned.pth"), str(tmp_path / "x.pth"))
    ours = convert(up, num_heads=2)
    assert not any(k.startswith(("fc_norm", "head", "ln1.")) for k in ours)
    MAE(img_size=16, patch_size=8, embed_dims=8, num_layers=1, num_heads=2).load_state_dict(ours, strict=True)
