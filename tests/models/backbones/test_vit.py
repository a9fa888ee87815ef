"""VisionTransformer: position-embedding resizing (run time and load time), outputs, freezing, errors."""
from __future__ import annotations

import warnings

import pytest
import torch
import torch.nn.functional as F

from seglab.models.backbones import VisionTransformer
from seglab.models.backbones.vit import resize_pos_embed
from seglab.registry import ConfigError

TINY = dict(img_size=32, patch_size=8, embed_dims=8, num_layers=2, num_heads=2)


def test_resize_pos_embed_keeps_cls_and_interpolates_the_grid():
    pos = torch.randn(1, 1 + 4 * 4, 3)
    out = resize_pos_embed(pos, (2, 6), (4, 4), "bilinear")
    assert out.shape == (1, 1 + 12, 3)
    torch.testing.assert_close(out[:, 0], pos[:, 0])
    grid = pos[:, 1:].reshape(1, 4, 4, 3).permute(0, 3, 1, 2)
    expected = F.interpolate(grid, size=(2, 6), mode="bilinear", align_corners=False).flatten(2).transpose(1, 2)
    torch.testing.assert_close(out[:, 1:], expected)


def test_other_input_sizes_use_the_resized_embedding():
    model = VisionTransformer(**TINY, out_indices=(0,)).eval()
    x = torch.randn(1, 3, 40, 24)  # 5x3 grid, the embedding is 4x4
    captured = {}
    model.layers[0].register_forward_pre_hook(lambda m, args: captured.setdefault("x", args[0]))
    with torch.no_grad():
        (out,) = model(x)
    assert out.shape == (1, 8, 5, 3)
    tokens, _ = model.patch_embed(x)
    pos = resize_pos_embed(model.pos_embed, (5, 3), (4, 4), "bicubic")
    expected = torch.cat((model.cls_token, tokens), 1) + pos
    torch.testing.assert_close(captured["x"], expected)


def test_pretrained_pos_embed_of_another_grid_is_resized_to_img_size(tmp_path):
    source = VisionTransformer(**{**TINY, "img_size": 16})  # 2x2 grid
    path = tmp_path / "vit.pth"
    torch.save({"state_dict": {f"backbone.{k}": v for k, v in source.state_dict().items()}}, path)
    model = VisionTransformer(**TINY, init_cfg=dict(type="Pretrained", checkpoint=str(path)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # every key fits after the resize
        model.init_weights()
    expected = resize_pos_embed(source.pos_embed, (4, 4), (2, 2), "bicubic")
    torch.testing.assert_close(model.pos_embed.detach(), expected.detach())
    torch.testing.assert_close(model.layers[1].ffn.layers[1].weight, source.layers[1].ffn.layers[1].weight)


def test_pretrained_part_reads_the_image_encoder_prefix(tmp_path):
    source = VisionTransformer(**TINY)
    path = tmp_path / "san.pth"
    torch.save({f"image_encoder.{k}": v for k, v in source.state_dict().items()} | {"other.w": torch.ones(1)}, path)
    model = VisionTransformer(**TINY, init_cfg=dict(type="Pretrained_Part", checkpoint=str(path)))
    model.init_weights()
    torch.testing.assert_close(model.cls_token, source.cls_token)


def test_outputs_origin_cls_token_and_no_cls_token():
    x = torch.randn(2, 3, 32, 32)
    model = VisionTransformer(**TINY, out_origin=True, out_indices=(1,), output_cls_token=True).eval()
    with torch.no_grad():
        outs = model(x)
    assert len(outs) == 2 and all(len(o) == 2 for o in outs)
    assert outs[0][0].shape == (2, 8, 4, 4) and outs[1][1].shape == (2, 8)
    no_cls = VisionTransformer(**TINY, with_cls_token=False, out_indices=-1).eval()
    with torch.no_grad():
        (out,) = no_cls(x)
    assert out.shape == (2, 8, 4, 4)


def test_frozen_exclude_keeps_only_the_named_parameters_trainable():
    model = VisionTransformer(**TINY, frozen_exclude=["layers.1", "ln1"], final_norm=True)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all("layers.1" in n or "ln1" in n for n in trainable)
    assert not model.cls_token.requires_grad and model.layers[1].ffn.layers[1].weight.requires_grad


def test_default_init_matches_mmseg_rules():
    model = VisionTransformer(**TINY)
    assert torch.all(model.layers[0].attn.attn.in_proj_bias == 0)  # not an ffn bias: zero
    ffn_bias = model.layers[0].ffn.layers[0][0].bias
    assert 0 < ffn_bias.abs().max() < 1e-4  # ffn biases ~ N(0, 1e-6)
    assert abs(float(model.pos_embed.detach().std()) - 0.02) < 0.01


def test_bad_arguments_fail_with_the_fix():
    with pytest.raises(ConfigError, match="with_cls_token"):
        VisionTransformer(**TINY, with_cls_token=False, output_cls_token=True)
    with pytest.raises(ConfigError, match="out_indices"):
        VisionTransformer(**TINY, out_indices=(2,))
    with pytest.raises(ConfigError, match="interpolate_mode"):
        VisionTransformer(**TINY, interpolate_mode="cubic")
