"""ICNet, CGNet and ERFNet: MMSeg's quirks kept on purpose, argument checks and MMSeg's default init.

Outputs are checked against MMSeg 1.2.2 in tests/models/test_realtime_variants.py; shapes, gradients and
state-dict round trips in tests/models/test_contract.py.
"""
from __future__ import annotations

import pytest
import torch
from torch import nn

from seglab.registry import MODELS, ConfigError
from seglab.unused_arguments import UnusedArgumentWarning

_R18 = dict(type="ResNetV1c", depth=18, stem_channels=8, base_channels=8, dilations=(1, 1, 2, 4),
            strides=(1, 2, 1, 1))
_ICNET = dict(type="ICNet", backbone_cfg=_R18, layer_channels=(16, 64), light_branch_middle_channels=4,
              psp_out_channels=8, out_channels=(4, 8, 8))
_ERFNET = dict(type="ERFNet", enc_downsample_channels=(4, 8, 16), enc_stage_non_bottlenecks=(1, 4),
               enc_non_bottleneck_dilations=(2, 4), enc_non_bottleneck_channels=(8, 16), dec_upsample_channels=(8, 4),
               dec_stages_non_bottleneck=(1, 1), dec_non_bottleneck_channels=(8, 4))


def test_icnet_uses_a_ceil_mode_max_pool_keeps_the_resnet_init_and_needs_a_resnet():
    model = MODELS.build(_ICNET)
    assert model.backbone.maxpool.ceil_mode is True
    # ICNet's own init leaves the ResNet's (zero-initialised last norm per block, as MMSeg re-applies it).
    assert (model.backbone.layer1[0].norm2.weight == 0).all() and (model.conv_sub1[0].bn.weight == 1).all()
    # 64 px: stem 16x16 -> ceil-mode pool 9x9 (floor mode would give 8) -> layer2 5x5.
    with torch.no_grad():
        sub1, sub2, sub4 = model.eval()(torch.randn(1, 3, 64, 64))
    assert sub1.shape[2:] == (8, 8) and sub2.shape[2:] == (5, 5) and sub4.shape[2:] == (2, 2)
    with pytest.raises(ConfigError, match="backbone_cfg must build a ResNet"):
        MODELS.build(dict(_ICNET, backbone_cfg=dict(type="CGNet")))
    with pytest.raises(ConfigError, match="layer_channels needs 2 entries"):
        MODELS.build(dict(_ICNET, layer_channels=(16, 32, 64)))


def test_icneck_returns_the_auxiliary_maps_then_the_fusion():
    neck = MODELS.build(dict(type="ICNeck", in_channels=(4, 8, 8), out_channels=6)).eval()
    sub1, sub2, sub4 = torch.randn(1, 4, 8, 8), torch.randn(1, 8, 4, 4), torch.randn(1, 8, 2, 2)
    with torch.no_grad():
        x_24, x_12, fused = neck([sub1, sub2, sub4])
        # x_12 is cff_12's projected low input: the stride-16 fusion upsampled and passed through conv_low.
        fused_24, _ = neck.cff_24(sub4, sub2)
        up = nn.functional.interpolate(fused_24, size=(8, 8), mode="bilinear", align_corners=False)
        torch.testing.assert_close(x_12, neck.cff_12.conv_low(up))
        torch.testing.assert_close(fused, torch.relu(x_12 + neck.cff_12.conv_high(sub1)))
    assert x_24.shape == (1, 6, 4, 4)
    with pytest.raises(ConfigError, match="3 ICNet branches"):
        MODELS.build(dict(type="ICNeck", in_channels=(4, 8)))


def test_cgnet_default_init_and_prelu_slopes_per_channel():
    model = MODELS.build(dict(type="CGNet", num_channels=(4, 8, 16), num_blocks=(1, 2), reductions=(2, 4)))
    prelus = [m for m in model.modules() if isinstance(m, nn.PReLU)]
    assert prelus and all((m.weight == 0).all() for m in prelus)  # MMSeg initialises PReLU slopes to 0
    assert model.stem[0].activate.num_parameters == 4
    assert model.level1[0].conv1x1.activate.num_parameters == 8  # a downsampling block: out_channels
    assert model.level2[1].conv1x1.activate.num_parameters == 8  # a plain block: out_channels // 2
    with pytest.raises(ConfigError, match="reduction 32 must be in"):
        MODELS.build(dict(type="CGNet", num_channels=(4, 8, 16), reductions=(2, 32)))
    with pytest.raises(ConfigError, match="norm_cfg must be a norm config"):
        MODELS.build(dict(type="CGNet", num_channels=(4, 8, 16), reductions=(2, 4), norm_cfg=None))


def test_cgnet_norm_eval_keeps_batch_norm_in_eval_mode():
    model = MODELS.build(dict(type="CGNet", num_channels=(4, 8, 16), num_blocks=(1, 1), reductions=(2, 4),
                              norm_eval=True)).train()
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert norms and not any(m.training for m in norms)


def test_erfnet_keeps_mmseg_block_layers_and_warns_on_ignored_layer_configs():
    model = MODELS.build(_ERFNET)
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert bns and all(m.eps == 1e-3 for m in bns)
    with pytest.warns(UnusedArgumentWarning, match="ERFNet: norm_cfg"):
        MODELS.build(dict(_ERFNET, norm_cfg=dict(type="GN", num_groups=2)))
    with pytest.raises(ConfigError, match="enc_non_bottleneck_channels"):
        MODELS.build(dict(_ERFNET, enc_non_bottleneck_channels=(8, 32)))
    with pytest.raises(ConfigError, match="multiple of len"):
        MODELS.build(dict(_ERFNET, enc_stage_non_bottlenecks=(1, 3)))
