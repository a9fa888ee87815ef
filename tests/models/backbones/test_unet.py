"""UNet: output widths/strides, the input-divisibility check, upsample choices, norm_eval, with_cp, errors.

Numbers against MMSeg (strided + deconv, conv-first InterpConv, no-downsample) are in
tests/models/test_hrunet_reference.py; the key layout of every MMSeg unet config in
tests/models/test_mmseg_manifests.py.
"""
from __future__ import annotations

import pytest
import torch
from torch import nn

from seglab.models.backbones import UNet
from seglab.models.layers.conv_module import ConvModule
from seglab.models.layers.up_conv_block import DeconvModule, InterpConv, build_upsample_layer
from seglab.registry import ConfigError

S3 = dict(base_channels=4, num_stages=3, strides=(1, 1, 1), enc_num_convs=(1, 1, 1), dec_num_convs=(1, 1),
          downsamples=(True, True), enc_dilations=(1, 1, 1), dec_dilations=(1, 1))


def test_s5_d16_declares_and_gives_mmseg_outputs():
    with torch.device("meta"):
        model = UNet()
    assert model.out_channels == [1024, 512, 256, 128, 64] and model.out_strides == [16, 8, 4, 2, 1]
    assert model.whole_downsample_rate == 16
    tiny = UNet(base_channels=2).eval()
    outs = tiny(torch.randn(1, 3, 32, 48))
    assert [tuple(o.shape) for o in outs] == [(1, 32, 2, 3), (1, 16, 4, 6), (1, 8, 8, 12), (1, 4, 16, 24),
                                              (1, 2, 32, 48)]


def test_input_not_divisible_by_the_downsample_rate_fails_with_the_fix():
    model = UNet(**S3)
    with pytest.raises(ValueError, match=r"input size \(30, 32\) must be divisible by the whole downsample rate 4"):
        model(torch.randn(1, 3, 30, 32))
    # A stride-2 stage counts like a max pool; a stage with neither keeps the resolution.
    assert UNet(**dict(S3, strides=(1, 2, 1), downsamples=(False, False))).whole_downsample_rate == 2
    assert UNet(**dict(S3, downsamples=(False, False))).whole_downsample_rate == 1


def test_downsampling_and_upsample_modules_follow_the_stage_settings():
    model = UNet(**dict(S3, strides=(1, 2, 1), downsamples=(True, False), upsample_cfg=dict(type="DeconvModule")))
    # Stage 1 is strided (no max pool even though downsamples[0] is True); stage 2 keeps the size.
    assert len(model.encoder[1]) == 1 and model.encoder[1][0].convs[0].conv.stride == (2, 2)
    assert len(model.encoder[2]) == 1 and model.encoder[2][0].convs[0].conv.stride == (1, 1)
    assert isinstance(model.decoder[0].upsample, DeconvModule)  # decoder 0 undoes stage 1's stride
    assert isinstance(model.decoder[1].upsample, ConvModule)  # same size: a 1x1 conv
    assert model.out_strides == [2, 2, 1]
    interp = UNet(**S3)
    assert isinstance(interp.decoder[0].upsample, InterpConv) and isinstance(interp.encoder[1][0], nn.MaxPool2d)


def test_upsample_modules_shapes_and_errors():
    x = torch.randn(1, 6, 5, 7)
    assert tuple(DeconvModule(6, 3)(x).shape) == (1, 3, 10, 14)
    assert tuple(DeconvModule(6, 3, kernel_size=5, scale_factor=3)(x).shape) == (1, 3, 15, 21)
    assert tuple(InterpConv(6, 3, conv_first=True, kernel_size=3, padding=1)(x).shape) == (1, 3, 10, 14)
    with pytest.raises(ConfigError, match="kernel_size"):
        DeconvModule(6, 3, kernel_size=3, scale_factor=2)
    with pytest.raises(ConfigError, match=r"'bilinear' is not a UNet upsample module"):
        build_upsample_layer(dict(type="bilinear"), 6, 3)


def test_dilations_and_conv_counts_reach_the_blocks():
    model = UNet(**dict(S3, enc_num_convs=(1, 2, 3), enc_dilations=(1, 1, 2), dec_num_convs=(3, 1),
                        dec_dilations=(4, 1)))
    convs = model.encoder[2][1].convs
    assert len(convs) == 3 and [c.conv.dilation[0] for c in convs] == [1, 2, 2]  # the first conv is never dilated
    dec = model.decoder[0].conv_block.convs
    assert len(dec) == 3 and [c.conv.padding[0] for c in dec] == [1, 4, 4]


def test_norm_eval_and_with_cp():
    model = UNet(**S3, norm_eval=True).train()
    assert all(not m.training for m in model.modules() if isinstance(m, nn.BatchNorm2d))
    torch.manual_seed(0)
    plain, cp = UNet(**S3).train(), UNet(**S3, with_cp=True).train()
    cp.load_state_dict(plain.state_dict())
    x = torch.randn(2, 3, 16, 16, requires_grad=True)
    a, b = plain(x)[-1], cp(x)[-1]
    torch.testing.assert_close(a, b)
    a.sum().backward()
    b.sum().backward()
    torch.testing.assert_close(plain.encoder[0][0].convs[0].conv.weight.grad,
                               cp.encoder[0][0].convs[0].conv.weight.grad)


@pytest.mark.parametrize("kwargs, match", [
    (dict(dcn=dict(type="DCNv2")), "deformable convolution"),
    (dict(plugins=[dict(cfg=dict(type="ContextBlock"))]), "plugins"),
    (dict(strides=(1, 1, 1, 1)), r"strides=\(1, 1, 1, 1\) has 4 entries but num_stages=5 needs 5"),
    (dict(dec_num_convs=(2, 2, 2, 2, 2)), "dec_num_convs.*needs 4"),
    (dict(downsamples=(True,) * 5), "downsamples.*needs 4"),
    (dict(strides=(1, 3, 1, 1, 1)), "must be 1 or 2"),
])
def test_bad_arguments_fail_with_a_config_error(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        UNet(**kwargs)
