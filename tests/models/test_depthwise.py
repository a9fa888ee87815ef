"""Blocked depth-wise 3x3 convolutions: the zero-padded convolution's numbers, only where asked."""

import copy
import pickle

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import seglab.models.depthwise as dw_module
from seglab.apis import init_model
from seglab.models import blocked_depthwise, blocked_depthwise_convs, fuse_conv_bn
from seglab.models.depthwise import blocked_depthwise_conv2d
from seglab.registry import ConfigError

DLV3P = "configs/deeplabv3plus/deeplabv3plus_r18-d8_4xb2-80k_cityscapes-512x1024.py"


@pytest.fixture
def tiny_maps_too(monkeypatch):
    """The tests' maps are tiny: take the blocked path regardless of the size thresholds, in small blocks."""
    monkeypatch.setattr(dw_module, "MIN_AREA", 0)
    monkeypatch.setattr(dw_module, "BLOCK_BYTES", 3 * 64)  # several channel blocks, the last one partial


@pytest.mark.parametrize("n,c,h,w,d", [(1, 5, 7, 9, 1), (2, 7, 13, 6, 2), (1, 4, 5, 5, 3), (2, 3, 4, 11, 7),
                                       (1, 6, 3, 3, 1)])
@pytest.mark.parametrize("bias", [True, False])
def test_exact_in_float64(n, c, h, w, d, bias, tiny_maps_too):
    """Every tap clipped to the map, dilation larger than the map included: the convolution itself."""
    g = torch.Generator().manual_seed(n * 100 + h + d)
    x = torch.randn(n, c, h, w, generator=g, dtype=torch.float64)
    wt = torch.randn(c, 1, 3, 3, generator=g, dtype=torch.float64)
    b = torch.randn(c, generator=g, dtype=torch.float64) if bias else None
    torch.testing.assert_close(blocked_depthwise_conv2d(x, wt, b, d), F.conv2d(x, wt, b, 1, d, d, c),
                               rtol=1e-13, atol=1e-13)


def test_float32_and_a_real_block_size():
    """Default thresholds and block size on a map the path takes (dilated ASPP-like): float rounding only."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(1, 256, 64, 64, generator=g)
    conv = nn.Conv2d(256, 256, 3, padding=12, dilation=12, groups=256).eval()
    fast = blocked_depthwise(conv)
    assert blocked_depthwise_convs(fast) == 1
    with torch.no_grad():
        assert dw_module._worth_it(x, conv.weight, 12)
        torch.testing.assert_close(fast(x), conv(x), rtol=1e-5, atol=1e-5)


def test_only_eligible_convs_and_no_autograd(tiny_maps_too):
    """Dense, strided, 5x5 or depth-multiplier convs stay stock; a forward autograd records runs the stock conv."""
    model = nn.Sequential(nn.Conv2d(4, 4, 3, padding=1, groups=4), nn.Conv2d(4, 4, 3, padding=1),
                          nn.Conv2d(4, 4, 3, stride=2, padding=1, groups=4), nn.Conv2d(4, 4, 5, padding=2, groups=4),
                          nn.Conv2d(4, 8, 3, padding=1, groups=4), nn.Conv2d(8, 8, 3, padding=2, dilation=2, groups=8))
    fast = blocked_depthwise(model)
    assert [dw_module._KEY in m.__dict__ for m in fast] == [True, False, False, False, False, True]
    assert blocked_depthwise_convs(model) == 0  # a copy unless inplace
    calls = []
    real = dw_module.blocked_depthwise_conv2d
    dw_module.blocked_depthwise_conv2d = lambda *a: calls.append(1) or real(*a)
    try:
        x = torch.randn(2, 4, 8, 8)
        fast.eval()
        with torch.no_grad():
            torch.testing.assert_close(fast(x), model.eval()(x), rtol=1e-5, atol=1e-5)
        assert len(calls) == 2
        y = fast(x.requires_grad_())
        y.sum().backward()
        assert len(calls) == 2 and x.grad is not None
        with torch.no_grad():
            fast.train()(x)
        assert len(calls) == 2
    finally:
        dw_module.blocked_depthwise_conv2d = real


def test_channels_last_and_non_float32_stay_stock(tiny_maps_too):
    conv = nn.Conv2d(4, 4, 3, padding=1, groups=4)
    x = torch.randn(1, 4, 8, 8)
    assert not dw_module._worth_it(x.contiguous(memory_format=torch.channels_last), conv.weight, 1)
    assert not dw_module._worth_it(x.double(), conv.weight.double(), 1)
    assert dw_module._worth_it(x, conv.weight, 1)


def test_composes_with_bn_fold_and_survives_copies(tiny_maps_too):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(6, 6, 3, padding=2, dilation=2, groups=6, bias=False), nn.BatchNorm2d(6)).eval()
    model[1].running_mean.uniform_(-1, 1), model[1].running_var.uniform_(0.5, 2)
    x = torch.randn(2, 6, 9, 10)
    with torch.no_grad():
        ref = model(x)
        for fast in (blocked_depthwise(fuse_conv_bn(model)), fuse_conv_bn(blocked_depthwise(model))):
            for m in (fast, copy.deepcopy(fast), pickle.loads(pickle.dumps(fast))):
                assert blocked_depthwise_convs(m) == 1
                torch.testing.assert_close(m(x), ref, rtol=1e-5, atol=1e-5)


def test_init_model_switch(tiny_maps_too):
    """Default on; ``blocked_depthwise=False`` or the config key turns it off; a non-bool is a ConfigError."""
    assert blocked_depthwise_convs(init_model(DLV3P)) > 0
    assert blocked_depthwise_convs(init_model(DLV3P, blocked_depthwise=False)) == 0
    assert blocked_depthwise_convs(init_model(DLV3P, cfg_options={"blocked_depthwise": False})) == 0
    with pytest.raises(ConfigError, match="blocked_depthwise"):
        init_model(DLV3P, cfg_options={"blocked_depthwise": "no"})
