import pytest
import torch
from torch import nn

from seglab.models.layers import ConvModule, DepthwiseSeparableConvModule, build_norm_layer, resize
from seglab.registry import ConfigError


def test_conv_module_keys_follow_mmcv():
    bn = ConvModule(3, 8, 3, padding=1, norm_cfg=dict(type="BN"))
    assert list(bn.state_dict()) == ["conv.weight", "bn.weight", "bn.bias", "bn.running_mean",
                                     "bn.running_var", "bn.num_batches_tracked"]
    gn = ConvModule(3, 8, 1, norm_cfg=dict(type="GN", num_groups=2))
    assert "gn.weight" in gn.state_dict() and "conv.bias" not in gn.state_dict()
    plain = ConvModule(3, 8, 1, act_cfg=None)
    assert "conv.bias" in plain.state_dict()  # bias='auto' keeps a bias when there is no norm


def test_conv_module_computes_conv_bn_relu():
    torch.manual_seed(0)
    m = ConvModule(2, 4, 3, padding=1, norm_cfg=dict(type="BN")).eval()
    x = torch.randn(1, 2, 5, 5)
    ref = torch.relu(m.bn(m.conv(x)))
    assert torch.allclose(m(x), ref)
    assert m(x).min() >= 0


def test_depthwise_separable_keys_and_groups():
    m = DepthwiseSeparableConvModule(4, 6, 3, padding=1, norm_cfg=dict(type="BN"))
    assert m.depthwise_conv.conv.groups == 4
    assert m(torch.randn(1, 4, 7, 7)).shape == (1, 6, 7, 7)


def test_sync_bn_falls_back_to_bn_without_process_group():
    name, layer = build_norm_layer(dict(type="SyncBN", requires_grad=False), 4, postfix=1)
    assert name == "bn1" and isinstance(layer, nn.BatchNorm2d)
    assert not any(p.requires_grad for p in layer.parameters())


def test_unknown_norm_is_a_clear_error():
    with pytest.raises(ConfigError, match="unknown norm type 'XN'"):
        build_norm_layer(dict(type="XN"), 4)


def test_resize_matches_interpolate():
    x = torch.randn(1, 2, 4, 4)
    out = resize(x, size=(8, 8), mode="bilinear", align_corners=False)
    assert torch.allclose(out, torch.nn.functional.interpolate(x, (8, 8), mode="bilinear", align_corners=False))
