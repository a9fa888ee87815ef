"""DepthwiseSeparableFCNHead: FCN key layout with separable convs, gradients, parity with MMSeg."""
import pytest
import torch

from seglab.models.decode_heads import DepthwiseSeparableFCNHead
from seglab.models.layers import DepthwiseSeparableConvModule
from seglab.registry import ConfigError

CASE_TYPE = "DepthwiseSeparableFCNHead"


def test_parity_with_mmseg(ref, case):
    ref.check_parity(case)


def test_gradients_reach_every_parameter(ref, case):
    ref.check_gradients(case)


def test_layout():
    head = DepthwiseSeparableFCNHead(in_channels=16, channels=8, num_classes=3, num_convs=2, concat_input=True,
                                     norm_cfg=dict(type="BN"))
    assert all(isinstance(m, DepthwiseSeparableConvModule) for m in (*head.convs, head.conv_cat))
    assert not head.convs[0].depthwise_conv.with_activation  # dw_act_cfg=None by default, as in MMSeg
    keys = set(head.state_dict())
    assert {"convs.0.depthwise_conv.conv.weight", "convs.1.pointwise_conv.bn.weight",
            "conv_cat.depthwise_conv.bn.running_mean"} <= keys
    assert head.conv_cat.depthwise_conv.conv.in_channels == 24
    assert head([torch.randn(1, 16, 7, 9)]).shape == (1, 3, 7, 9)


def test_needs_a_conv():
    with pytest.raises(ConfigError):
        DepthwiseSeparableFCNHead(in_channels=8, channels=8, num_classes=3, num_convs=0, concat_input=False)
