"""MobileNetV2: MMSeg key layout and outputs, strides/dilations, freezing, with_cp, errors."""
from __future__ import annotations

import pytest
import torch
from backbone_reference import CASES
from torch import nn

from seglab.models.backbones import MobileNetV2
from seglab.registry import ConfigError

PARITY = [n for n in CASES["cases"] if n.startswith("mobilenet_v2")]
D8 = dict(strides=(1, 2, 2, 1, 1, 1, 1), dilations=(1, 1, 1, 2, 2, 4, 4))


@pytest.mark.parametrize("name", PARITY)
def test_outputs_match_mmseg(name, check_parity):
    check_parity(name)


@pytest.mark.parametrize(
    "kwargs, channels, strides",
    [
        (dict(), [24, 32, 96, 320], [4, 8, 16, 32]),
        (dict(D8), [24, 32, 96, 320], [4, 8, 8, 8]),
        (dict(widen_factor=0.5, out_indices=(0, 6)), [8, 160], [2, 32]),
        (dict(widen_factor=0.35, out_indices=(3,)), [24], [16]),
    ],
)
def test_declared_and_actual_shapes(kwargs, channels, strides):
    model = MobileNetV2(**kwargs).eval()
    assert model.out_channels == channels and model.out_strides == strides
    with torch.no_grad():
        outs = model(torch.randn(1, 3, 64, 64))
    assert isinstance(outs, tuple)  # a tuple even for one output (MMSeg returns the bare tensor)
    assert [tuple(o.shape) for o in outs] == [(1, c, 64 // s, 64 // s) for c, s in zip(channels, strides, strict=True)]


def test_dilation_only_on_first_block_of_a_layer():
    model = MobileNetV2(**D8)
    depthwise = [block.conv[-2].conv for block in model.layer6]
    assert [c.dilation[0] for c in depthwise] == [4, 1, 1]  # MMSeg's (pretrained) behaviour
    assert model.layer1[0].conv[0].conv.groups == 32 and len(model.layer1[0].conv) == 2  # expand_ratio 1


def test_frozen_stages_and_norm_eval():
    model = MobileNetV2(widen_factor=0.5, frozen_stages=2).train()
    assert all(not p.requires_grad for m in (model.conv1, model.layer1, model.layer2) for p in m.parameters())
    assert not model.layer2.training and not model.layer1[0].conv[0].bn.training
    assert model.layer3.training and all(p.requires_grad for p in model.layer3.parameters())
    assert model.conv1.bn.training  # like MMSeg: the stem's parameters freeze, its BN statistics do not
    norm_eval = MobileNetV2(widen_factor=0.5, norm_eval=True).train()
    assert all(not m.training for m in norm_eval.modules() if isinstance(m, nn.BatchNorm2d))
    assert norm_eval.layer3.training and all(p.requires_grad for p in norm_eval.parameters())


def test_with_cp_same_output_and_gradients():
    torch.manual_seed(0)
    plain = MobileNetV2(widen_factor=0.5, out_indices=(2, 4)).eval()
    cp_model = MobileNetV2(widen_factor=0.5, out_indices=(2, 4), with_cp=True).eval()
    cp_model.load_state_dict(plain.state_dict())
    x = torch.randn(1, 3, 32, 32)
    results = []
    for model in (plain, cp_model):
        xi = x.clone().requires_grad_(True)
        outs = model(xi)
        sum(o.square().mean() for o in outs).backward()
        results.append((torch.cat([o.flatten() for o in outs]).detach(), xi.grad,
                        [p.grad for p in model.parameters() if p.grad is not None]))
    assert torch.allclose(results[0][0], results[1][0], atol=1e-6)
    assert torch.allclose(results[0][1], results[1][1], atol=1e-6)
    assert len(results[0][2]) == len(results[1][2]) > 0
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(results[0][2], results[1][2], strict=True))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(out_indices=(1, 7)), "out_indices"),
        (dict(frozen_stages=8), "frozen_stages"),
        (dict(strides=(1, 2, 2)), "7 entries"),
        (dict(strides=(1, 2, 2, 3, 1, 1, 1)), "stride must be 1 or 2"),
        (dict(pretrained="a.pth", init_cfg=dict(type="Pretrained", checkpoint="a.pth")), "not both"),
    ],
)
def test_bad_arguments_raise_config_error(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        MobileNetV2(**kwargs)
