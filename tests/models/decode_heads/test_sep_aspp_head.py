"""DepthwiseSeparableASPPHead (DeepLabV3+): key layout, low-level fusion, gradients, MMSeg parity."""
import pytest
import torch

from seglab.models.decode_heads import DepthwiseSeparableASPPHead
from seglab.registry import ConfigError

CASE_TYPE = "DepthwiseSeparableASPPHead"


def test_parity_with_mmseg(ref, case):
    ref.check_parity(case)


def test_gradients_reach_every_parameter(ref, case):
    ref.check_gradients(case)


def test_keys_and_output_at_low_level_resolution():
    head = DepthwiseSeparableASPPHead(in_channels=16, in_index=1, channels=8, c1_in_channels=4, c1_channels=2,
                                      dilations=(1, 6), num_classes=3, norm_cfg=dict(type="BN"))
    keys = set(head.state_dict())
    assert {"aspp_modules.0.conv.weight", "aspp_modules.1.depthwise_conv.conv.weight",
            "aspp_modules.1.pointwise_conv.bn.weight", "c1_bottleneck.conv.weight",
            "sep_bottleneck.0.depthwise_conv.conv.weight", "sep_bottleneck.1.pointwise_conv.conv.weight"} <= keys
    assert head.sep_bottleneck[0].depthwise_conv.conv.in_channels == 8 + 2
    out = head([torch.randn(2, 4, 20, 24), torch.randn(2, 16, 5, 6)])
    assert out.shape == (2, 3, 20, 24)


def test_no_low_level_branch():
    head = DepthwiseSeparableASPPHead(in_channels=16, channels=8, c1_in_channels=0, c1_channels=0, num_classes=3)
    assert head.c1_bottleneck is None
    assert head([torch.randn(1, 16, 5, 6)]).shape == (1, 3, 5, 6)
    with pytest.raises(ConfigError, match="c1_channels must be 0"):
        DepthwiseSeparableASPPHead(in_channels=16, channels=8, c1_in_channels=0, c1_channels=4, num_classes=3)
    with pytest.raises(ConfigError, match="c1_in_channels"):
        DepthwiseSeparableASPPHead(in_channels=16, channels=8, c1_in_channels=-1, c1_channels=0, num_classes=3)
