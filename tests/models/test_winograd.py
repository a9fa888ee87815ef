"""Winograd F(4x4, 3x3) convolutions: the same numbers as the direct convolution, and only where asked."""

import copy
import pickle

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import seglab.models.winograd as winograd_module
from seglab.apis import init_model
from seglab.models import fuse_conv_bn, winograd_conv, winograd_convs
from seglab.models.winograd import transform_weight, winograd_conv2d, winograd_conv2d_autograd

FCN_R18 = "configs/fcn/fcn_r18-d8_4xb2-80k_cityscapes-512x1024.py"


@pytest.fixture(autouse=True)
def tiny_maps_too(monkeypatch):
    """The tests' maps are tiny: take the Winograd path regardless of the per-call work threshold."""
    monkeypatch.setattr(winograd_module, "MIN_PIXELS", 0)


def _direct(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None, d: int) -> torch.Tensor:
    return F.conv2d(x.double(), w.double(), None if b is None else b.double(), padding=d, dilation=d)


@pytest.mark.parametrize("n,c,k,h,w,d", [
    (1, 8, 5, 16, 16, 1), (2, 3, 7, 13, 22, 1), (1, 6, 4, 17, 9, 2), (2, 5, 3, 24, 31, 3), (1, 4, 4, 4, 4, 1),
    (1, 20, 6, 35, 33, 1), (1, 11, 5, 70, 66, 2),  # planes >= COPY_BLOCK_MIN_PIXELS: copied a few channels at a time
])
@pytest.mark.parametrize("bias", [True, False])
def test_exact_in_float64(n, c, k, h, w, d, bias):
    """In float64 the algorithm is the convolution itself (any odd size, dilation, batch)."""
    g = torch.Generator().manual_seed(n * 100 + h + d)
    x = torch.randn(n, c, h, w, generator=g, dtype=torch.float64)
    wt = torch.randn(k, c, 3, 3, generator=g, dtype=torch.float64)
    b = torch.randn(k, generator=g, dtype=torch.float64) if bias else None
    y = winograd_conv2d(x, transform_weight(wt), b, d)
    assert y.shape == (n, k, h, w)
    torch.testing.assert_close(y, _direct(x, wt, b, d), rtol=0, atol=1e-11)


@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("d", [1, 2, 4])
def test_float32_close_and_layout_kept(channels_last, d):
    """float32 agrees with the direct convolution to ~1e-5 relative; the memory format is the input's."""
    g = torch.Generator().manual_seed(d)
    x = torch.randn(2, 64, 33, 40, generator=g)
    wt = torch.randn(96, 64, 3, 3, generator=g) / 24
    b = torch.randn(96, generator=g)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    y = winograd_conv2d(x, transform_weight(wt), b, d)
    ref = _direct(x, wt, b, d)
    assert ((y.double() - ref).abs().max() / ref.abs().max()).item() < 2e-5
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    assert y.is_contiguous(memory_format=fmt)


def _conv_model() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 128, 3, padding=1), nn.BatchNorm2d(128), nn.ReLU(),
        nn.Conv2d(128, 128, 3, padding=2, dilation=2, bias=False), nn.BatchNorm2d(128), nn.ReLU(),
        nn.Conv2d(128, 128, 3, stride=2, padding=1),     # strided: stays direct
        nn.Conv2d(128, 128, 1),                          # 1x1: stays direct
        nn.Conv2d(128, 128, 3, padding=1, groups=2),     # grouped: stays direct
        nn.Conv2d(128, 32, 3, padding=1),                # too few output channels: stays direct
    )


def _randomise_bn(model: nn.Module) -> None:
    g = torch.Generator().manual_seed(1)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=g) + 0.5)


def test_eligible_convs_only_and_state_dict_untouched():
    model = _conv_model()
    fast = winograd_conv(model)
    assert winograd_convs(fast) == 1  # only the 128->128 dilated conv (the first has 3 input channels)
    assert winograd_convs(model) == 0  # a copy unless inplace
    assert fast.state_dict().keys() == model.state_dict().keys()
    for key, value in model.state_dict().items():
        assert torch.equal(value, fast.state_dict()[key])


def test_eval_close_training_and_grad_exact():
    model = _conv_model()
    _randomise_bn(model)
    fast = winograd_conv(model)
    x = torch.randn(2, 3, 24, 20)
    model.eval(), fast.eval()
    with torch.no_grad():
        ref, out = model(x), fast(x)
    assert not torch.equal(ref, out)  # the Winograd path did run
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-4)
    # With autograd on, and in training mode, the direct convolution runs: bit-identical results.
    assert torch.equal(fast(x), model(x))
    model.train(), fast.train()
    torch.manual_seed(0)
    a = model(x)
    torch.manual_seed(0)
    assert torch.equal(fast(x), a)


@pytest.mark.parametrize("fuse_first", [True, False])
def test_composes_with_batchnorm_fold(fuse_first):
    model = _conv_model()
    _randomise_bn(model)
    model.eval()
    both = winograd_conv(fuse_conv_bn(model)) if fuse_first else fuse_conv_bn(winograd_conv(model))
    x = torch.randn(1, 3, 20, 20)
    with torch.no_grad():
        torch.testing.assert_close(both(x), model(x), rtol=1e-4, atol=1e-4)
    assert winograd_convs(both) == 1


def test_weight_change_refreshes_cache_and_copies_keep_path():
    model = winograd_conv(_conv_model()).eval()
    x = torch.randn(1, 3, 16, 16)
    with torch.no_grad():
        before = model(x)
        model[3].weight.mul_(2)
        after = model(x)
    plain = copy.deepcopy(model)
    for m in plain.modules():
        m.__dict__.pop("_conv_forward", None)
    with torch.no_grad():
        torch.testing.assert_close(after, plain(x), rtol=1e-4, atol=1e-4)
        assert not torch.allclose(before, after)
    for clone in (copy.deepcopy(model), pickle.loads(pickle.dumps(model))):
        assert winograd_convs(clone) == 1
        with torch.no_grad():
            torch.testing.assert_close(clone(x), after, rtol=0, atol=0)


def test_small_maps_and_other_dtypes_run_direct():
    model = winograd_conv(_conv_model()).eval()
    conv = model[3]
    x = torch.randn(1, 128, 6, 6)  # smaller than one tile of the dilated conv (4 * 2 pixels)
    with torch.no_grad():
        assert torch.equal(conv(x), F.conv2d(x, conv.weight, conv.bias, padding=2, dilation=2))
        xd, wd = x.double(), conv.weight.double()
        conv.double()
        assert torch.equal(conv(xd), F.conv2d(xd, wd, None, padding=2, dilation=2))


def test_segmentor_default_and_switches():
    """init_model routes FCN-R18-D8's 3x3 convs through Winograd; the config key and argument turn it off."""
    x = torch.randn(1, 3, 64, 64)
    fast = init_model(FCN_R18)
    plain = init_model(FCN_R18, winograd_conv=False)
    assert winograd_convs(fast) > 10 and winograd_convs(plain) == 0
    plain.load_state_dict(fast.state_dict())
    with torch.no_grad():
        a, b = fast(x, mode="tensor"), plain(x, mode="tensor")
    torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)
    assert winograd_convs(init_model(FCN_R18, cfg_options={"winograd_conv": False})) == 0
    from seglab.registry import ConfigError
    with pytest.raises(ConfigError, match="winograd_conv must be True or False"):
        init_model(FCN_R18, cfg_options={"winograd_conv": "yes"})


@pytest.mark.parametrize("d", [1, 3])
def test_gradients_match_the_direct_convolution(d):
    """The hand-written backward gives the direct convolution's gradients (exactly in float64)."""
    g = torch.Generator().manual_seed(d)
    x = torch.randn(2, 5, 14, 19, generator=g, dtype=torch.float64, requires_grad=True)
    wt = torch.randn(6, 5, 3, 3, generator=g, dtype=torch.float64, requires_grad=True)
    b = torch.randn(6, generator=g, dtype=torch.float64, requires_grad=True)
    grad = torch.randn(2, 6, 14, 19, generator=g, dtype=torch.float64)
    got = torch.autograd.grad(winograd_conv2d_autograd(x, wt, b, d), (x, wt, b), grad)
    want = torch.autograd.grad(F.conv2d(x, wt, b, padding=d, dilation=d), (x, wt, b), grad)
    for a, e in zip(got, want):
        torch.testing.assert_close(a, e, rtol=0, atol=1e-10)
    assert torch.autograd.gradcheck(lambda x, w: winograd_conv2d_autograd(x, w, None, d),
                                    (x[:1, :2, :9, :10].detach().requires_grad_(), wt[:3, :2].detach().requires_grad_()))


def test_training_switch_and_training_step_close():
    """With training=True a training step's loss and gradients match the direct model to float rounding."""
    model = _conv_model()
    plain_run = winograd_conv(model)              # eval only: training forwards stay bit-identical
    train_run = winograd_conv(model, training=True)
    x = torch.randn(2, 3, 24, 20)
    grads = []
    for m in (model, plain_run, train_run):
        m.train()
        m.zero_grad()
        m(x).square().mean().backward()
        grads.append([p.grad.clone() for p in m.parameters()])
    assert all(torch.equal(a, b) for a, b in zip(grads[0], grads[1]))
    assert not all(torch.equal(a, b) for a, b in zip(grads[0], grads[2]))
    for a, b in zip(grads[0], grads[2]):
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-6)
    # Turning training on later (what the runner does after an eval loop patched the model) sticks.
    winograd_conv(plain_run, inplace=True, training=True)
    assert plain_run[3].__dict__["_conv_forward"].training


def test_work_threshold(monkeypatch):
    """Below MIN_PIXELS (batch * height * width) the direct convolution runs."""
    model = winograd_conv(_conv_model()).eval()
    conv = model[3]
    x = torch.randn(1, 128, 16, 16)
    monkeypatch.setattr(winograd_module, "MIN_PIXELS", 16 * 16 + 1)
    with torch.no_grad():
        assert torch.equal(conv(x), F.conv2d(x, conv.weight, None, padding=2, dilation=2))
        monkeypatch.setattr(winograd_module, "MIN_PIXELS", 16 * 16)
        assert not torch.equal(conv(x), F.conv2d(x, conv.weight, None, padding=2, dilation=2))


def test_narrow_convs_skip_large_maps(monkeypatch):
    """With fewer than NARROW_CHANNELS channels a conv whose transformed tiles exceed the limit runs direct."""
    model = winograd_conv(_conv_model()).eval()
    conv = model[3]  # 128 -> 128, dilation 2
    x = torch.randn(1, 128, 16, 16)
    tile_bytes = 36 * 16 * 16 // 16 * 128 * 4
    with torch.no_grad():
        monkeypatch.setattr(winograd_module, "NARROW_MAX_TILE_BYTES", tile_bytes - 1)
        assert torch.equal(conv(x), F.conv2d(x, conv.weight, None, padding=2, dilation=2))
        monkeypatch.setattr(winograd_module, "NARROW_CHANNELS", 128)  # 128 channels count as wide now
        assert not torch.equal(conv(x), F.conv2d(x, conv.weight, None, padding=2, dilation=2))


def test_autocast_runs_direct():
    """Under CPU autocast the stock (bf16) convolution runs: Winograd's transforms in bf16 lose too much."""
    model = winograd_conv(_conv_model()).eval()
    conv = model[3]
    x = torch.randn(1, 128, 8, 8)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        got = conv(x)
        want = F.conv2d(x, conv.weight, None, padding=2, dilation=2)
    assert torch.equal(got, want)


def test_filters_follow_a_fused_optimizer_step():
    """A fused optimizer writes weights without bumping their version: the next eval must not reuse old filters."""
    model = winograd_conv(_conv_model(), training=True)
    opt = torch.optim.SGD(model.parameters(), lr=0.5, fused=True)
    x = torch.randn(1, 3, 16, 16)
    conv = model[3]
    for _ in range(2):
        model.eval()
        with torch.no_grad():
            h = model[:3](x)
            torch.testing.assert_close(conv(h), F.conv2d(h, conv.weight, None, padding=2, dilation=2),
                                       rtol=1e-4, atol=1e-4)
        model.train()
        opt.zero_grad()
        model(x).square().mean().backward()
        opt.step()


@pytest.mark.parametrize("shape,d", [((1, 20, 35, 33), 1), ((1, 11, 70, 66), 2), ((2, 20, 35, 33), 1)])
def test_channel_blocked_tile_copy_equals_one_copy(monkeypatch, shape, d):
    """One NCHW image with large (phase) planes is copied into its tiles COPY_CHANNEL_BLOCK channels at a time
    (a partial last block included): the same tiles as one copy. Batches and channels-last inputs take one copy."""
    x = torch.randn(*shape)
    hq, wq = (-(-s // (4 * d)) * 4 * d for s in shape[2:])
    copies = []
    setitem = torch.Tensor.__setitem__
    monkeypatch.setattr(torch.Tensor, "__setitem__", lambda t, k, v: copies.append(1) or setitem(t, k, v))
    tiles = winograd_module._padded_tiles(x, d, hq, wq)
    blocks = -(-shape[1] // winograd_module.COPY_CHANNEL_BLOCK) if shape[0] == 1 else 1
    assert len(copies) == d * d * blocks
    winograd_module._padded_tiles(x.contiguous(memory_format=torch.channels_last), d, hq, wq)
    assert len(copies) == d * d * (blocks + 1)
    monkeypatch.setattr(winograd_module, "COPY_BLOCK_MIN_PIXELS", 10**9)  # one copy per phase
    assert torch.equal(tiles, winograd_module._padded_tiles(x, d, hq, wq))
