"""ASPPHead and ASPPModule: MMSeg key layout, dilations, gradients, parity with MMSeg (tests/data/heads)."""
import pytest
import torch

from seglab.models.decode_heads import ASPPHead
from seglab.models.decode_heads.aspp_head import ASPPModule
from seglab.registry import ConfigError

CASE_TYPE = "ASPPHead"


def test_parity_with_mmseg(ref, case):
    ref.check_parity(case)


def test_gradients_reach_every_parameter(ref, case):
    ref.check_gradients(case)


def test_branches_follow_dilations():
    module = ASPPModule((1, 2, 5), 8, 4, conv_cfg=None, norm_cfg=None, act_cfg=dict(type="ReLU"))
    assert module[0].conv.kernel_size == (1, 1) and module[0].conv.padding == (0, 0)
    assert module[2].conv.kernel_size == (3, 3) and module[2].conv.dilation == (5, 5) and module[2].conv.padding == (5, 5)
    assert [o.shape for o in module(torch.randn(1, 8, 9, 10))] == [(1, 4, 9, 10)] * 3
    sep = ASPPModule((1, 2), 8, 4, conv_cfg=None, norm_cfg=None, act_cfg=None, separable=True)
    assert sep[1].depthwise_conv.conv.groups == 8 and sep[1].depthwise_conv.conv.dilation == (2, 2)


def test_keys_and_shapes():
    head = ASPPHead(in_channels=16, channels=8, num_classes=5, dilations=(1, 12), norm_cfg=dict(type="BN"))
    keys = set(head.state_dict())
    assert {"image_pool.1.conv.weight", "image_pool.1.bn.weight", "aspp_modules.1.conv.weight",
            "bottleneck.conv.weight", "conv_seg.weight"} <= keys
    assert head.bottleneck.conv.in_channels == 3 * 8
    assert head([torch.randn(2, 16, 7, 9)]).shape == (2, 5, 7, 9)


def test_bad_dilations():
    with pytest.raises(ConfigError, match="dilations"):
        ASPPHead(in_channels=8, channels=4, num_classes=3, dilations=6)
