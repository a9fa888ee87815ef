"""make_divisible rounding and the MobileNetV2 inverted residual block."""
from __future__ import annotations

import pytest
import torch

from seglab.models.layers import InvertedResidual, make_divisible


@pytest.mark.parametrize(
    "value, divisor, expected",
    [(32, 8, 32), (16.0, 8, 16), (8.4, 8, 8), (11.2, 8, 16), (10, 8, 16), (3, 8, 8), (112, 8, 112), (35, 8, 32),
     (36, 8, 40)],
)
def test_make_divisible(value, divisor, expected):
    assert make_divisible(value, divisor) == expected


def test_make_divisible_min_value():
    assert make_divisible(3, 8, min_value=16) == 16


def test_inverted_residual_layout_and_residual():
    block = InvertedResidual(8, 8, stride=1, expand_ratio=6).eval()
    acts = [type(m.activate).__name__ if m.with_activation else None for m in block.conv]
    assert acts == ["ReLU6", "ReLU6", None]
    assert block.conv[0].conv.out_channels == 48 and block.conv[1].conv.groups == 48
    assert block.use_res_connect
    with torch.no_grad():
        for m in block.conv[2].modules():  # zero projection => output equals input
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.zero_()
                m.bias.zero_()
        x = torch.randn(1, 8, 5, 5)
        assert torch.allclose(block(x), x)
    strided = InvertedResidual(8, 16, stride=2, expand_ratio=1, dilation=2)
    assert len(strided.conv) == 2 and not strided.use_res_connect
    assert strided.conv[0].conv.dilation == (2, 2) and strided.conv[0].conv.padding == (2, 2)
    assert strided(torch.randn(1, 8, 9, 9)).shape == (1, 16, 5, 5)
