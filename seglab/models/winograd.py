"""CPU fast path: 3x3 stride-1 convolutions by Winograd's minimal filtering F(4x4, 3x3).

A 3x3 convolution computes each 4x4 block of outputs from a 6x6 input tile with 36 products per
input/output channel pair instead of 144 (Lavin & Gray, "Fast Algorithms for Convolutional Neural
Networks", 2016). The tiles are transformed by small constant matrices, the 36 channel contractions run
as one batched matrix product, and the results are transformed back. Dilated convolutions (the D8
backbones) run on the d x d polyphase sub-images, where they are ordinary 3x3 convolutions.

Why: on the CPU the convolutions already run at the hardware's peak (oneDNN), so doing fewer
multiplications is the only way left to make them faster. Outputs and gradients agree with the direct
convolution to ~1e-5 relative (the transforms' float32 rounding; exact in float64), so it is on by
default on the CPU only (cuDNN picks its own algorithms on a GPU) for evaluation and, with a
hand-written backward, training; ``winograd_conv = False`` in a config turns it off. Like
:mod:`seglab.models.fuse`, it changes no parameter or buffer: ``state_dict()`` and checkpoints are untouched.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from .conv_paths import cpu_float32, same_3x3

__all__ = ["transform_weight", "winograd_conv", "winograd_conv2d", "winograd_conv2d_autograd", "winograd_convs"]

# F(4x4, 3x3) with interpolation points 0, +-1, +-2 and infinity.
_BT = ((4, 0, -5, 0, 1, 0), (0, -4, -4, 1, 1, 0), (0, 4, -4, -1, 1, 0),
       (0, -2, -1, 2, 1, 0), (0, 2, -1, -2, 1, 0), (0, 4, 0, -5, 0, 1))
_G = ((1 / 4, 0, 0), (-1 / 6, -1 / 6, -1 / 6), (-1 / 6, 1 / 6, -1 / 6),
      (1 / 24, 1 / 12, 1 / 6), (1 / 24, -1 / 12, 1 / 6), (0, 0, 1))
_AT = ((1, 1, 1, 1, 1, 0), (0, 1, -1, 2, -2, 0), (0, 1, 1, 4, 4, 0), (0, 1, -1, 8, -8, 1))
_TILE = 4  # outputs per tile side; the input tile is _TILE + 2

# Below these sizes the transforms cost more than the products they save (measured on this project's
# CPU: 64->64 channels at 128x128 ran 0.9x, 128->128 at 64x64 1.35x, 512->512 1.6x).
MIN_CHANNELS = 64
MIN_CHANNEL_PRODUCT = 128 * 128
# Tiles cover a multiple of 4*dilation outputs per side; more padding than this and the direct
# convolution wins (ASPP's dilation 12-36 on a 64x64 map).
MAX_PADDED_AREA = 1.3

# Per-call overhead (some thirty small ops) outweighs the saving on tiny maps: a 96x128 FCN-R18-D8
# training step (12x16 features) ran 0.66x with Winograd, a 360x480 one 1.34x.
MIN_PIXELS = 2048  # batch * height * width of the feature map

# With fewer than 256 channels on either side the batched product has little arithmetic per byte, so
# once the transformed tiles outgrow the caches it is memory-bound: 128->128 channels at 4x45x60
# trained 1.38x faster, at 4x90x120 0.85x. Such convs take the Winograd path only below this size.
NARROW_CHANNELS = 256
NARROW_MAX_TILE_BYTES = 16 * 2**20

# Copying an NCHW map into channels-last tiles reads every channel's plane at once: with hundreds of
# channels each output pixel gathers from that many pages, and the copy ran at ~1 GB/s (75 ms for
# DeepLabV3+'s 2560-channel 64x64 bottleneck input). A few channels at a time keep those pages few:
# 23 ms there, 60 -> 18 ms for 560 channels at 128x128. Measured a win for one image with phase planes
# of at least this many pixels; batches and small planes (dilation 4 at 64x64) kept the single copy.
COPY_CHANNEL_BLOCK = 8
COPY_BLOCK_MIN_PIXELS = 1024

_KEY = "_seglab_winograd"


def _matrix(rows: tuple, like: torch.Tensor) -> torch.Tensor:
    return torch.tensor(rows, dtype=like.dtype, device=like.device)


def _kron(like: torch.Tensor, flip: bool = False) -> torch.Tensor:
    """(36, 9): row (b, a), column (i, j) holds G[a, i] * G[b, j] (taps reversed when ``flip``)."""
    g = torch.tensor(_G, dtype=torch.float64)
    if flip:
        g = g.flip(1)
    return torch.einsum("ai,bj->baij", g, g).reshape(36, 9).to(device=like.device, dtype=like.dtype)


def transform_weight(weight: torch.Tensor) -> torch.Tensor:
    """The (36, out, in) Winograd-domain filters of a (out, in, 3, 3) weight."""
    k, c = weight.shape[:2]
    return torch.mm(_kron(weight), weight.reshape(k * c, 9).t()).view(36, k, c)


def _transform_flipped(weight: torch.Tensor) -> torch.Tensor:
    """(36, in, out) filters of the flipped, channel-swapped kernel: the input-gradient convolution."""
    k, c = weight.shape[:2]
    return torch.mm(_kron(weight, flip=True), weight.permute(2, 3, 1, 0).reshape(9, c * k)).view(36, c, k)


def _padded_tiles(x: torch.Tensor, d: int, hq: int, wq: int) -> torch.Tensor:
    """(N * d * d, hq / d + 2, wq / d + 2, C): the zero-padded input, one channels-last sub-image per phase."""
    n, c, h, w = x.shape
    hs, ws = hq // d + 2, wq // d + 2
    xp = x.new_zeros(n, d, d, hs, ws, c)
    xl = x.permute(0, 2, 3, 1)  # a free view when x is channels_last
    nchw = not x.is_contiguous(memory_format=torch.channels_last)
    block = COPY_CHANNEL_BLOCK if nchw and n == 1 and (h // d) * (w // d) >= COPY_BLOCK_MIN_PIXELS else c
    for py in range(d):  # input row y belongs to phase y % d, row y // d + 1 of its padded sub-image
        for px in range(d):
            sub = xl[:, py::d, px::d]
            dst = xp[:, py, px, 1:1 + sub.shape[1], 1:1 + sub.shape[2]]
            for s in range(0, c, block):
                dst[..., s:s + block] = sub[..., s:s + block]
    return xp.view(n * d * d, hs, ws, c)


def _input_transform(x: torch.Tensor, d: int) -> tuple[torch.Tensor, tuple[int, ...]]:
    """(36, tiles, C) transformed input tiles of ``x`` and the tiling (hq, wq, th, tw)."""
    n, c, h, w = x.shape
    t = _TILE
    hq, wq = -(-h // (t * d)) * t * d, -(-w // (t * d)) * t * d
    xp = _padded_tiles(x, d, hq, wq)
    b, hs, ws = xp.shape[:3]
    th, tw = (hs - 2) // t, (ws - 2) // t
    bt = _matrix(_BT, x)
    # Overlapping views of the tile rows, then columns, each contracted with B^T in one product;
    # channels stay innermost, so every gather reads whole contiguous channel vectors.
    s0, s1, s2, s3 = xp.stride()
    rows = xp.as_strided((t + 2, b, th, ws, c), (s1, s0, t * s1, s2, s3))
    r = torch.mm(bt, rows.reshape(t + 2, -1)).view(t + 2, b, th, ws, c)
    r0, r1, r2, r3, r4 = r.stride()
    cols = r.as_strided((t + 2, t + 2, b, th, tw, c), (r3, r0, r1, r2, t * r3, r4))
    return torch.mm(bt, cols.reshape(t + 2, -1)).view(36, -1, c), (hq, wq, th, tw)


def winograd_conv2d(x: torch.Tensor, u: torch.Tensor, bias: torch.Tensor | None, dilation: int = 1,
                    transformed: tuple | None = None) -> torch.Tensor:
    """A 3x3, stride-1, zero-padded ('same') convolution of ``x`` with Winograd filters ``u``.

    The result has the input's memory format (channels_last or contiguous NCHW). ``transformed`` is
    ``_input_transform(x, dilation)`` when the caller already has it.
    """
    n, _, h, w = x.shape
    k, t, d = u.shape[1], _TILE, dilation
    v, (hq, wq, th, tw) = transformed if transformed is not None else _input_transform(x, dilation)
    channels_last = x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()
    at = _matrix(_AT, x)
    # Tile (n, py, px, ty, tx) output (oy, ox) is pixel ((ty * 4 + oy) * d + py, (tx * 4 + ox) * d + px).
    if channels_last:
        m = torch.bmm(v, u.transpose(1, 2))                                # (36, tiles, K)
        y = torch.matmul(at, torch.mm(at, m.view(t + 2, -1)).view(t, t + 2, -1))  # (ox, oy, tiles * K)
        y = y.view(t, t, n, d, d, th, tw, k)
        out = y.permute(2, 5, 1, 3, 6, 0, 4, 7).reshape(n, hq, wq, k).permute(0, 3, 1, 2)
    else:  # keep the caller's layout; K before tiles so that output rows gather whole runs of tiles
        m = torch.bmm(u, v.transpose(1, 2))                                # (36, K, tiles)
        y = torch.matmul(at, torch.mm(at, m.view(t + 2, -1)).view(t, t + 2, -1))  # (ox, oy, K * tiles)
        y = y.view(t, t, k, n, d, d, th, tw)
        out = y.permute(3, 2, 6, 1, 4, 7, 0, 5).reshape(n, k, hq, wq)
    if hq != h or wq != w:
        out = out[:, :, :h, :w]
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    if bias is not None:
        out = out + bias.view(1, -1, 1, 1)
    return out.contiguous(memory_format=fmt)


def _output_adjoint(grad: torch.Tensor, d: int, tiling: tuple[int, ...]) -> torch.Tensor:
    """(36, tiles, K): the gradient of the Winograd-domain products, given the output gradient."""
    n, k, h, w = grad.shape
    hq, wq, th, tw = tiling
    t = _TILE
    g = F.pad(grad, (0, wq - w, 0, hq - h)) if (hq, wq) != (h, w) else grad
    # (n, k, ty, oy, py, tx, ox, px) -> (ox, oy, n, py, px, ty, tx, k): the forward's tile order.
    g = g.reshape(n, k, th, t, d, tw, t, d).permute(6, 3, 0, 4, 7, 2, 5, 1).reshape(t, t, -1)
    at_t = _matrix(_AT, grad).t()
    g = torch.matmul(at_t, g)                                             # (ox, a, tiles * K)
    return torch.mm(at_t, g.reshape(t, -1)).view(36, -1, k)              # (b a, tiles, K)


class _WinogradConvFunction(torch.autograd.Function):
    """Winograd convolution with a hand-written backward: both gradients are Winograd products too."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, d: int) -> torch.Tensor:  # noqa: ANN001
        u = transform_weight(weight)
        v, tiling = _input_transform(x, d)
        out = winograd_conv2d(x, u, bias, d, (v, tiling))
        ctx.save_for_backward(v, weight)
        ctx.tiling, ctx.d, ctx.has_bias = tiling, d, bias is not None
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple:  # noqa: ANN001
        v, weight = ctx.saved_tensors
        d = ctx.d
        grad_x = grad_w = grad_b = None
        if ctx.needs_input_grad[0]:
            # The input gradient of a 'same' 3x3 convolution is the 'same' convolution of the output
            # gradient with the kernel flipped and its channel axes swapped.
            grad_x = winograd_conv2d(grad, _transform_flipped(weight), None, d)
        if ctx.needs_input_grad[1]:
            gu = torch.bmm(_output_adjoint(grad, d, ctx.tiling).transpose(1, 2), v)   # (36, K, C)
            k, c = gu.shape[1:]
            grad_w = torch.mm(gu.view(36, k * c).t(), _kron(weight)).view(k, c, 3, 3)
        if ctx.has_bias and ctx.needs_input_grad[2]:
            grad_b = grad.sum((0, 2, 3))
        return grad_x, grad_w, grad_b, None


def winograd_conv2d_autograd(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                             dilation: int = 1) -> torch.Tensor:
    """:func:`winograd_conv2d` from a (out, in, 3, 3) weight, differentiable in ``x``, weight and bias."""
    return _WinogradConvFunction.apply(x, weight, bias, dilation)


def _eligible(conv: nn.Module) -> bool:
    """A plain 3x3, stride-1, 'same'-padded, ungrouped 2D convolution with enough channels."""
    return (
        same_3x3(conv) and conv.groups == 1 and min(conv.in_channels, conv.out_channels) >= MIN_CHANNELS
        and conv.in_channels * conv.out_channels >= MIN_CHANNEL_PRODUCT
    )


def _worth_it(x: torch.Tensor, weight: torch.Tensor, d: int) -> bool:
    # Not under autocast: the transforms' products in bf16 err ~3% relative (vs 0.3% for a bf16 conv).
    if not cpu_float32(x, weight):
        return False
    h, w = x.shape[-2:]
    step = _TILE * d
    hq, wq = -(-h // step) * step, -(-w // step) * step
    if not (h >= step and w >= step and hq * wq <= MAX_PADDED_AREA * h * w and x.shape[0] * h * w >= MIN_PIXELS):
        return False
    out_channels, in_channels = weight.shape[:2]
    tile_bytes = 36 * x.shape[0] * hq * wq // 16 * in_channels * x.element_size()
    return min(in_channels, out_channels) >= NARROW_CHANNELS or tile_bytes <= NARROW_MAX_TILE_BYTES


def _filters(conv: nn.Conv2d, weight: torch.Tensor) -> torch.Tensor:
    """The Winograd filters of ``weight``, cached until the tensor changes (a step, a load, a fold)."""
    key = (weight.data_ptr(), weight._version, weight.dtype, weight.device, tuple(weight.shape))
    cache = conv.__dict__.get("_seglab_winograd_cache")
    if cache is not None and cache[0] == key:
        return cache[1]
    with torch.no_grad():
        u = transform_weight(weight)
    conv.__dict__["_seglab_winograd_cache"] = (key, u)
    return u


class _WinogradForward:
    """A conv's ``_conv_forward`` replacement; an object, not a bound method, so copies and pickles keep it."""

    def __init__(self, conv: nn.Conv2d, training: bool) -> None:
        self.conv, self.training = conv, training

    def __call__(self, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        conv = self.conv
        d = conv.dilation[0]
        if torch.compiler.is_compiling():
            return nn.Conv2d._conv_forward(conv, x, weight, bias)
        if conv.training:  # weights may change behind the version counter (fused optimizers): recompute later
            conv.__dict__.pop("_seglab_winograd_cache", None)
        if not _worth_it(x, weight, d):
            return nn.Conv2d._conv_forward(conv, x, weight, bias)
        if not conv.training and not torch.is_grad_enabled():
            return winograd_conv2d(x, _filters(conv, weight), bias, d)
        if self.training:
            return winograd_conv2d_autograd(x, weight, bias, d)
        return nn.Conv2d._conv_forward(conv, x, weight, bias)


def winograd_convs(model: nn.Module) -> int:
    """How many convolutions of ``model`` run through the Winograd path (by :func:`winograd_conv`)."""
    return sum(_KEY in m.__dict__ for m in model.modules())


def winograd_conv(model: nn.Module, inplace: bool = False, training: bool = False) -> nn.Module:
    """Return ``model`` with its large 3x3 stride-1 convolutions computed by Winograd F(4x4, 3x3).

    Applies to eval-mode forwards without autograd on float32 CPU tensors, and with ``training=True``
    also to forwards that autograd records (training: gradients by Winograd products too); anything
    else (a GPU, other dtypes, small maps) runs the stock convolution. Composes with
    :func:`seglab.models.fuse_conv_bn` in either order. Works on a copy unless ``inplace=True``.
    """
    if not inplace:
        model = copy.deepcopy(model)
    for module in model.modules():
        if _KEY in module.__dict__:
            module.__dict__["_conv_forward"].training |= training
        elif _eligible(module):
            module.__dict__[_KEY] = True
            # An instance attribute: nn.Conv2d.forward and the BN fold both call self._conv_forward.
            module.__dict__["_conv_forward"] = _WinogradForward(module, training)
    return model
