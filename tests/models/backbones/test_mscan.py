"""MSCAN (SegNeXt backbone): multi-scale conv attention formula, MMSeg layout, variant parity, init."""
from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

import pytest
import torch
from torch.nn import functional as F

from seglab.models.backbones.mscan import MSCAN, MSCAAttention, MSCABlock
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


def test_msca_attention_is_strip_convs_gating_the_input():
    torch.manual_seed(0)
    attn = MSCAAttention(4, kernel_sizes=[5, [1, 7], [1, 11]], paddings=[2, [0, 3], [0, 5]]).eval()
    assert attn.conv0_1.weight.shape == (4, 1, 1, 7) and attn.conv0_2.weight.shape == (4, 1, 7, 1)
    assert attn.conv1_1.weight.shape == (4, 1, 1, 11) and not hasattr(attn, "conv2_1")
    x = torch.randn(2, 4, 9, 13)
    a = F.conv2d(x, attn.conv0.weight, attn.conv0.bias, padding=2, groups=4)
    branches = [F.conv2d(F.conv2d(a, getattr(attn, f"conv{i}_1").weight, getattr(attn, f"conv{i}_1").bias,
                                  padding=(0, p), groups=4),
                         getattr(attn, f"conv{i}_2").weight, getattr(attn, f"conv{i}_2").bias, padding=(p, 0), groups=4)
                for i, p in ((0, 3), (1, 5))]
    expected = F.conv2d(a + branches[0] + branches[1], attn.conv3.weight, attn.conv3.bias) * x
    torch.testing.assert_close(attn(x), expected, atol=1e-5, rtol=1e-5)


def test_block_layer_scales_start_at_0_01_and_residuals_hold():
    block = MSCABlock(8, norm_cfg=dict(type="BN")).eval()
    assert torch.all(block.layer_scale_1 == 0.01) and torch.all(block.layer_scale_2 == 0.01)
    with torch.no_grad():
        block.layer_scale_1.zero_()
        block.layer_scale_2.zero_()
    x = torch.randn(2, 6 * 7, 8)
    torch.testing.assert_close(block(x, (6, 7)), x)  # zero layer scales: the block is the identity


def test_mscan_t_shapes_keys_and_in_channels():
    model = MSCAN(embed_dims=[32, 64, 160, 256], mlp_ratios=[8, 8, 4, 4], depths=[3, 3, 5, 2],
                  norm_cfg=dict(type="BN"))
    assert model.out_channels == [32, 64, 160, 256] and model.out_strides == [4, 8, 16, 32]
    keys = list(model.state_dict())
    assert keys[0] == "patch_embed1.proj.0.weight" and "patch_embed1.proj.4.running_var" in keys
    assert "block3.4.attn.spatial_gating_unit.conv2_2.weight" in keys and "norm4.weight" in keys
    # MMSeg's stem always reads 3 channels; ours reads in_channels (same keys and shapes for 3)
    four = MSCAN(in_channels=4, embed_dims=[8, 16], depths=[1, 1], mlp_ratios=[2, 2], num_stages=2,
                 norm_cfg=dict(type="BN")).eval()
    with torch.no_grad():
        outs = four(torch.randn(1, 4, 20, 24))
    assert [tuple(o.shape) for o in outs] == [(1, 8, 5, 6), (1, 16, 3, 3)]


def test_variant_matches_mmseg():
    """Three stages, other kernel sizes, mlp ratios and activation than the golden."""
    ref = _ref()
    model = ref.filled("mscan_variant")
    with torch.no_grad():
        outs = model(ref.inputs([ref.CASES["mscan_variant"]["input"]])[0])
    assert len(outs) == 3
    for i, out in enumerate(outs):
        ref.assert_close(out, f"mscan_variant.out{i}")


def test_init_weights_follows_mmseg():
    torch.manual_seed(0)
    model = MSCAN(embed_dims=[8, 16], depths=[1, 1], mlp_ratios=[4, 4], num_stages=2, norm_cfg=dict(type="BN"))
    model.init_weights()
    model.requires_grad_(False)
    fc1 = model.block2[0].mlp.fc1  # 1x1 conv 16 -> 64: std sqrt(2 / 64)
    assert float(fc1.weight.std()) == pytest.approx(math.sqrt(2 / 64), rel=0.15) and torch.all(fc1.bias == 0)
    dw = model.block2[0].mlp.dwconv  # depth-wise: fan_out = 3 * 3 * 64 / 64
    assert float(dw.weight.std()) == pytest.approx(math.sqrt(2 / 9), rel=0.15)
    assert torch.all(model.norm2.weight == 1) and torch.all(model.block1[0].layer_scale_1 == 0.01)


def test_bad_arguments_fail_naming_them():
    with pytest.raises(ConfigError, match="depths"):
        MSCAN(depths=[1, 1], num_stages=4)
    with pytest.raises(ConfigError, match="attention_kernel_paddings"):
        MSCAN(attention_kernel_sizes=[5, [1, 7]], attention_kernel_paddings=[2])
