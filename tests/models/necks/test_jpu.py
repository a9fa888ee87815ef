"""JPU (FastFCN): pass-through outputs, fused map shape, separable dilated layout, gradients, MMSeg parity."""
import pytest
import torch

from seglab.models.necks import JPU
from seglab.registry import ConfigError

CASE_TYPE = "JPU"


def test_parity_with_mmseg(ref, case):
    ref.check_parity(case)


def test_gradients_reach_every_parameter(ref, case):
    ref.check_gradients(case)


def test_outputs_and_layout():
    neck = JPU(in_channels=(4, 8, 16), mid_channels=6, dilations=(1, 2, 4, 8))
    assert neck.out_channels == [4, 8, 24]
    layer = neck.dilation_layers[3][0]
    assert layer.depthwise_conv.conv.dilation == (8, 8) and layer.depthwise_conv.conv.groups == 18
    assert not layer.depthwise_conv.with_activation and layer.pointwise_conv.with_activation
    assert {"conv_layers.2.0.conv.weight", "conv_layers.2.0.bn.weight",
            "dilation_layers.3.0.depthwise_conv.bn.weight", "dilation_layers.3.0.pointwise_conv.conv.weight"} <= set(
        neck.state_dict())
    xs = [torch.randn(2, 4, 16, 16), torch.randn(2, 8, 8, 8), torch.randn(2, 16, 4, 4)]
    outs = neck(xs)
    assert len(outs) == 3 and outs[0] is xs[0] and outs[1] is xs[1]
    assert outs[2].shape == (2, 24, 16, 16)


def test_levels():
    neck = JPU(in_channels=(4, 8, 16), mid_channels=6, start_level=1, end_level=3, dilations=(1,))
    assert len(neck.conv_layers) == 2 and neck.out_channels == [8, 6]
    with pytest.raises(ConfigError, match="start_level"):
        JPU(in_channels=(4, 8, 16), start_level=2, end_level=2)
    with pytest.raises(ConfigError, match="dilations"):
        JPU(in_channels=(4, 8, 16), dilations=())
