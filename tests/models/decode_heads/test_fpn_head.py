"""FPNHead (Semantic FPN): scale-head layout, shapes, gradients, parity with MMSeg (tests/data/heads)."""
import pytest
import torch

from seglab.models.decode_heads import FPNHead
from seglab.models.layers import Upsample
from seglab.registry import ConfigError

CASE_TYPE = "FPNHead"


def test_parity_with_mmseg(ref, case):
    ref.check_parity(case)


def test_gradients_reach_every_parameter(ref, case):
    ref.check_gradients(case)


def test_scale_heads_layout():
    head = FPNHead(in_channels=[4, 8, 12, 16], in_index=[0, 1, 2, 3], feature_strides=[4, 8, 16, 32], channels=6,
                   num_classes=3)
    # Stride 4*2^i gets max(1, i) conv stages, each followed by a 2x upsample except at the finest level.
    assert [len(h) for h in head.scale_heads] == [1, 2, 4, 6]
    assert isinstance(head.scale_heads[3][5], Upsample)
    keys = set(head.state_dict())
    assert {"scale_heads.0.0.conv.weight", "scale_heads.2.2.conv.weight", "scale_heads.3.4.conv.weight"} <= keys
    out = head([torch.randn(1, 4, 16, 16), torch.randn(1, 8, 8, 8), torch.randn(1, 12, 4, 4), torch.randn(1, 16, 2, 2)])
    assert out.shape == (1, 3, 16, 16)


def test_bad_strides():
    with pytest.raises(ConfigError, match="one stride per"):
        FPNHead(in_channels=[4, 8], in_index=[0, 1], feature_strides=[4], channels=4, num_classes=3)
    with pytest.raises(ConfigError, match="smallest"):
        FPNHead(in_channels=[4, 8], in_index=[0, 1], feature_strides=[8, 4], channels=4, num_classes=3)
