"""``seglab convert-weights {swin,vit,beit}``: tiny upstream-style checkpoints become MMSeg layouts that load
strictly, and the re-ordered Swin patch-merging weights compute what upstream's 2x2 concat does."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from seglab.cli import main
from seglab.models.backbones import BEiT, SwinTransformer, VisionTransformer
from seglab.models.layers.transformer import PatchMerging
from seglab.tools.convert_weights import convert_file
from seglab.tools.convert_weights.swin import convert as convert_swin

C = 8  # embed dims of the tiny models
GEN = torch.Generator().manual_seed(0)


def _rand(*shape: int) -> torch.Tensor:
    return torch.randn(*shape, generator=GEN)


def _upstream_swin() -> dict[str, torch.Tensor]:
    """Microsoft Swin key layout: 2 stages of 1 block, window 3, heads (1, 2), with a classifier."""
    sd = {"patch_embed.proj.weight": _rand(C, 3, 4, 4), "patch_embed.proj.bias": _rand(C),
          "patch_embed.norm.weight": _rand(C), "patch_embed.norm.bias": _rand(C)}
    for i, (dim, heads) in enumerate(((C, 1), (2 * C, 2))):
        p = f"layers.{i}.blocks.0."
        sd |= {p + "norm1.weight": _rand(dim), p + "norm1.bias": _rand(dim),
               p + "attn.relative_position_bias_table": _rand(25, heads),
               p + "attn.relative_position_index": torch.zeros(9, 9, dtype=torch.long),
               p + "attn.qkv.weight": _rand(3 * dim, dim), p + "attn.qkv.bias": _rand(3 * dim),
               p + "attn.proj.weight": _rand(dim, dim), p + "attn.proj.bias": _rand(dim),
               p + "norm2.weight": _rand(dim), p + "norm2.bias": _rand(dim),
               p + "mlp.fc1.weight": _rand(4 * dim, dim), p + "mlp.fc1.bias": _rand(4 * dim),
               p + "mlp.fc2.weight": _rand(dim, 4 * dim), p + "mlp.fc2.bias": _rand(dim)}
    sd |= {"layers.0.downsample.reduction.weight": _rand(2 * C, 4 * C),
           "layers.0.downsample.norm.weight": _rand(4 * C), "layers.0.downsample.norm.bias": _rand(4 * C),
           "norm.weight": _rand(2 * C), "norm.bias": _rand(2 * C),
           "head.weight": _rand(10, 2 * C), "head.bias": _rand(10)}
    return sd


def _upstream_vit() -> dict[str, torch.Tensor]:
    """timm ViT layout: 1 block, 16x16 input at patch 8 (2x2 grid + cls)."""
    p = "blocks.0."
    return {"cls_token": _rand(1, 1, C), "pos_embed": _rand(1, 5, C),
            "patch_embed.proj.weight": _rand(C, 3, 8, 8), "patch_embed.proj.bias": _rand(C),
            p + "norm1.weight": _rand(C), p + "norm1.bias": _rand(C),
            p + "attn.qkv.weight": _rand(3 * C, C), p + "attn.qkv.bias": _rand(3 * C),
            p + "attn.proj.weight": _rand(C, C), p + "attn.proj.bias": _rand(C),
            p + "norm2.weight": _rand(C), p + "norm2.bias": _rand(C),
            p + "mlp.fc1.weight": _rand(4 * C, C), p + "mlp.fc1.bias": _rand(4 * C),
            p + "mlp.fc2.weight": _rand(C, 4 * C), p + "mlp.fc2.bias": _rand(C),
            "norm.weight": _rand(C), "norm.bias": _rand(C), "head.weight": _rand(10, C), "head.bias": _rand(10)}


def _upstream_beit() -> dict[str, torch.Tensor]:
    """Official BEiT layout: 1 block on a 2x2 grid (16x16 input, patch 8), fine-tuned (fc_norm + head)."""
    p = "blocks.0."
    return {"cls_token": _rand(1, 1, C), "patch_embed.proj.weight": _rand(C, 3, 8, 8),
            "patch_embed.proj.bias": _rand(C), p + "gamma_1": _rand(C), p + "gamma_2": _rand(C),
            p + "norm1.weight": _rand(C), p + "norm1.bias": _rand(C), p + "attn.q_bias": _rand(C),
            p + "attn.v_bias": _rand(C), p + "attn.relative_position_bias_table": _rand(9 + 3, 2),
            p + "attn.relative_position_index": torch.zeros(5, 5, dtype=torch.long),
            p + "attn.qkv.weight": _rand(3 * C, C), p + "attn.proj.weight": _rand(C, C),
            p + "attn.proj.bias": _rand(C), p + "norm2.weight": _rand(C), p + "norm2.bias": _rand(C),
            p + "mlp.fc1.weight": _rand(4 * C, C), p + "mlp.fc1.bias": _rand(4 * C),
            p + "mlp.fc2.weight": _rand(C, 4 * C), p + "mlp.fc2.bias": _rand(C),
            "fc_norm.weight": _rand(C), "fc_norm.bias": _rand(C), "head.weight": _rand(10, C), "head.bias": _rand(10)}


def test_swin_checkpoint_loads_strictly(tmp_path):
    src, dst = tmp_path / "swin_upstream.pth", tmp_path / "out" / "swin_mmseg.pth"
    upstream = _upstream_swin()
    torch.save({"model": upstream}, src)  # Microsoft checkpoints keep the weights under 'model'
    assert main(["convert-weights", "swin", str(src), str(dst)]) == 0
    converted = torch.load(dst, weights_only=True)
    model = SwinTransformer(embed_dims=C, depths=(1, 1), num_heads=(1, 2), strides=(4, 2), window_size=3,
                            out_indices=(1,))
    model.load_state_dict(converted, strict=True)
    torch.testing.assert_close(model.stages[1].blocks[0].ffn.layers[0][0].weight,
                               upstream["layers.1.blocks.0.mlp.fc1.weight"])
    torch.testing.assert_close(model.norm1.weight, upstream["norm.weight"])  # the last stage's output norm
    assert not any(k.startswith("head") for k in converted)


def test_swin_patch_merging_reorder_computes_the_upstream_2x2_concat():
    upstream = _upstream_swin()
    x = _rand(1, 6 * 4, C)  # a 6x4 token map
    grid = x.view(1, 6, 4, C)
    # upstream: concat the (0,0), (1,0), (0,1), (1,1) neighbours, LayerNorm, Linear without bias
    cat = torch.cat([grid[:, 0::2, 0::2], grid[:, 1::2, 0::2], grid[:, 0::2, 1::2], grid[:, 1::2, 1::2]], -1)
    cat = F.layer_norm(cat.view(1, -1, 4 * C), (4 * C,), upstream["layers.0.downsample.norm.weight"],
                       upstream["layers.0.downsample.norm.bias"])
    expected = cat @ upstream["layers.0.downsample.reduction.weight"].t()
    converted = convert_swin(upstream)
    merging = PatchMerging(C, 2 * C)
    merging.load_state_dict({k.split("downsample.")[1]: v for k, v in converted.items() if "downsample" in k})
    with torch.no_grad():
        out, hw = merging(x, (6, 4))
    assert hw == (3, 2)
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)


def test_vit_checkpoint_loads_strictly_and_keeps_values(tmp_path):
    src, dst = tmp_path / "vit.pth", tmp_path / "vit_mmseg.safetensors"
    upstream = _upstream_vit()
    torch.save(upstream, src)
    converted = convert_file("vit", str(src), str(dst))
    model = VisionTransformer(img_size=16, patch_size=8, embed_dims=C, num_layers=1, num_heads=2, patch_bias=True,
                              final_norm=True)
    model.load_state_dict(converted, strict=True)
    torch.testing.assert_close(model.layers[0].attn.attn.in_proj_weight, upstream["blocks.0.attn.qkv.weight"])
    torch.testing.assert_close(model.ln1.weight, upstream["norm.weight"])
    from seglab.engine.checkpoint import load_state_dict_file

    assert set(load_state_dict_file(str(dst))["state_dict"]) == set(converted)


def test_beit_checkpoint_loads_strictly(tmp_path):
    src, dst = tmp_path / "beit.pth", tmp_path / "beit_mmseg.pth"
    upstream = _upstream_beit()
    torch.save({"model": upstream}, src)
    converted = convert_file("beit", str(src), str(dst))
    model = BEiT(img_size=16, patch_size=8, embed_dims=C, num_layers=1, num_heads=2)
    model.load_state_dict(converted, strict=True)
    torch.testing.assert_close(model.layers[0].gamma_1, upstream["blocks.0.gamma_1"])
    torch.testing.assert_close(model.layers[0].ffn.layers[1].weight, upstream["blocks.0.mlp.fc2.weight"])


def test_unknown_converter_names_the_known_ones(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["convert-weights", "resnet", str(tmp_path / "a"), str(tmp_path / "b")])
    assert "swin" in capsys.readouterr().err
