"""MultiLevelNeck: rescaled pyramid shapes, single-input broadcast, gradients, MMSeg parity."""
import pytest
import torch

from seglab.models.necks import MultiLevelNeck
from seglab.registry import ConfigError

CASE_TYPE = "MultiLevelNeck"


def test_parity_with_mmseg(ref, case):
    ref.check_parity(case)


def test_gradients_reach_every_parameter(ref, case):
    ref.check_gradients(case)


def test_shapes_and_keys():
    neck = MultiLevelNeck(in_channels=[8, 8, 8, 8], out_channels=6)
    outs = neck([torch.randn(1, 8, 8, 8) for _ in range(4)])
    assert [tuple(o.shape) for o in outs] == [(1, 6, 4, 4), (1, 6, 8, 8), (1, 6, 16, 16), (1, 6, 32, 32)]
    assert {"lateral_convs.3.conv.weight", "convs.3.conv.bias"} <= set(neck.state_dict())
    single = MultiLevelNeck(in_channels=[8], out_channels=6, scales=[1, 2])
    assert len(single.lateral_convs) == 1 and len(single.convs) == 2
    assert [tuple(o.shape) for o in single([torch.randn(1, 8, 5, 5)])] == [(1, 6, 5, 5), (1, 6, 10, 10)]


def test_bad_arguments():
    with pytest.raises(ConfigError, match="one per scale"):
        MultiLevelNeck(in_channels=[8, 8], out_channels=6, scales=[1, 2, 4])
    with pytest.raises(ConfigError, match="scales"):
        MultiLevelNeck(in_channels=[8], out_channels=6, scales=[])
