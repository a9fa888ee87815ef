"""ResNeSt: MMSeg key layout and outputs, split attention, avg-pool strides, with_cp."""
from __future__ import annotations

import pytest
import torch
from backbone_reference import CASES
from torch import nn

from seglab.models.backbones import ResNeSt
from seglab.models.backbones.resnest import SplitAttentionConv2d
from seglab.registry import ConfigError

PARITY = [n for n in CASES["cases"] if n.startswith("resnest")]
KEYS_ONLY = [n for n in CASES["keys_only"] if n.startswith("resnest")]


@pytest.mark.parametrize("name", PARITY)
def test_outputs_match_mmseg(name, check_parity):
    check_parity(name)


@pytest.mark.parametrize("name", KEYS_ONLY)
def test_keys_match_mmseg(name, check_keys):
    check_keys(name)


def _small(**kwargs) -> ResNeSt:
    return ResNeSt(depth=50, stem_channels=16, base_channels=16, num_stages=2, strides=(1, 2), dilations=(1, 1),
                   out_indices=(0, 1), **kwargs)


def test_avd_layer_only_on_strided_blocks():
    model = _small()
    assert not hasattr(model.layer1[0], "avd_layer")
    assert isinstance(model.layer2[0].avd_layer, nn.AvgPool2d) and not hasattr(model.layer2[1], "avd_layer")
    assert model.layer2[0].conv2.conv.stride == (1, 1)  # the pool does the striding
    no_avd = _small(avg_down_stride=False)
    assert not hasattr(no_avd.layer2[0], "avd_layer") and no_avd.layer2[0].conv2.conv.stride == (2, 2)
    assert not hasattr(model.layer1[0], "bn2") and isinstance(model.layer2[0].downsample[0], nn.AvgPool2d)
    with torch.no_grad():
        for m in (model.eval(), no_avd.eval()):
            outs = m(torch.randn(1, 3, 32, 32))
            assert [tuple(o.shape) for o in outs] == [(1, 64, 8, 8), (1, 128, 4, 4)]
    assert model.out_strides == [4, 8]


@pytest.mark.parametrize("radix, groups", [(2, 1), (4, 2)])
def test_split_attention_weights_sum_to_one_over_radix(radix, groups):
    sa = SplitAttentionConv2d(8, 16, 3, padding=1, groups=groups, radix=radix).eval()
    logits = torch.randn(3, 16 * radix, 1, 1)
    weights = sa._attention(logits).view(3, radix, 16)
    assert torch.allclose(weights.sum(1), torch.ones(3, 16), atol=1e-6)


def test_identical_splits_pass_through():
    """When both radix splits are equal, attention weights summing to 1 return that split unchanged."""
    sa = SplitAttentionConv2d(8, 16, 3, padding=1, radix=2).eval()
    with torch.no_grad():
        sa.conv.weight[16:] = sa.conv.weight[:16]
        for name in ("weight", "bias", "running_mean", "running_var"):
            t = getattr(sa.bn0, name)
            t[16:] = t[:16].clone()
        half = torch.randn(2, 4, 6, 6)
        out = sa(torch.cat([half, half], 1))
        split = sa.relu(sa.bn0(sa.conv(torch.cat([half, half], 1))))[:, :16]
    assert torch.allclose(out, split, atol=1e-5)


def test_radix_one_uses_sigmoid_gate():
    sa = SplitAttentionConv2d(8, 16, 3, padding=1, radix=1).eval()
    logits = torch.randn(2, 16, 1, 1)
    assert torch.allclose(sa._attention(logits), torch.sigmoid(logits).view(2, 16))
    with torch.no_grad():
        assert sa(torch.randn(2, 8, 5, 5)).shape == (2, 16, 5, 5)


def test_with_cp_same_output_and_gradients():
    torch.manual_seed(0)
    plain, cp_model = _small().eval(), _small(with_cp=True).eval()
    for m in plain.modules():
        if isinstance(m, nn.BatchNorm2d):
            nn.init.uniform_(m.weight, 0.5, 1.5)
    cp_model.load_state_dict(plain.state_dict())
    x = torch.randn(1, 3, 32, 32)
    results = []
    for model in (plain, cp_model):
        xi = x.clone().requires_grad_(True)
        outs = model(xi)
        sum(o.square().mean() for o in outs).backward()
        results.append((torch.cat([o.flatten() for o in outs]).detach(), xi.grad,
                        [p.grad for p in model.parameters()]))
    assert torch.allclose(results[0][0], results[1][0], atol=1e-6)
    assert torch.allclose(results[0][1], results[1][1], atol=1e-6)
    pairs = zip(results[0][2], results[1][2], strict=True)
    assert all(a is not None and torch.allclose(a, b, atol=1e-6) for a, b in pairs)


def test_errors():
    with pytest.raises(ConfigError, match="invalid depth 18"):
        ResNeSt(depth=18)
    with pytest.raises(ConfigError, match="radix"):
        _small(radix=0)
    with pytest.raises(ConfigError, match="deformable"):
        _small(dcn=dict(type="DCN"))
