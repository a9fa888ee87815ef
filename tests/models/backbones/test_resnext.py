"""ResNeXt: MMSeg key layout and outputs, grouped widths, errors."""
from __future__ import annotations

import pytest
import torch
from backbone_reference import CASES

from seglab.models.backbones import ResNeXt
from seglab.registry import MODELS, ConfigError

PARITY = [n for n in CASES["cases"] if n.startswith("resnext")]
KEYS_ONLY = [n for n in CASES["keys_only"] if n.startswith("resnext")]


@pytest.mark.parametrize("name", PARITY)
def test_outputs_match_mmseg(name, check_parity):
    check_parity(name)


@pytest.mark.parametrize("name", KEYS_ONLY)
def test_keys_match_mmseg(name, check_keys):
    check_keys(name)


def test_grouped_widths():
    model = ResNeXt(depth=50, groups=32, base_width=4)
    # width = floor(planes * base_width / 64) * groups: 128, 256, 512, 1024 for planes 64..512
    assert [getattr(model, f"layer{i}")[0].conv2.out_channels for i in range(1, 5)] == [128, 256, 512, 1024]
    assert all(getattr(model, f"layer{i}")[0].conv2.groups == 32 for i in range(1, 5))
    assert model.out_channels == [256, 512, 1024, 2048]
    plain = ResNeXt(depth=50, groups=1)  # groups=1 is ResNet-50's bottleneck
    assert plain.layer1[0].conv2.out_channels == 64 and plain.layer1[0].conv2.groups == 1


def test_small_forward_shapes_and_strides():
    model = ResNeXt(depth=50, groups=4, base_width=4, stem_channels=16, base_channels=16,
                    strides=(1, 2, 1, 1), dilations=(1, 1, 2, 4), contract_dilation=True).eval()
    with torch.no_grad():
        outs = model(torch.randn(1, 3, 32, 32))
    assert model.out_strides == [4, 8, 8, 8]
    assert [tuple(o.shape) for o in outs] == [(1, c, 32 // s, 32 // s)
                                              for c, s in zip(model.out_channels, model.out_strides, strict=True)]
    assert model.layer1[0].conv2.out_channels == 16  # floor(16 * 4 / 16) * 4


def test_errors():
    with pytest.raises(ConfigError, match="invalid depth 18"):
        ResNeXt(depth=18, groups=32)
    with pytest.raises(ConfigError, match="did you mean 'base_width'"):
        MODELS.build(dict(type="ResNeXt", depth=50, base_widht=4))
