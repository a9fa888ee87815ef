"""Inference fast path: 3x3 depth-wise convolutions as nine shifted multiply-adds over cache-sized channel blocks.

On the CPU, oneDNN's NCHW depth-wise kernel slows down sharply on large maps and with dilation: measured here
(one thread, torch 2.13), 64-80 ms for DeepLabV3+'s 2048-channel 64x64 ASPP convs (dilation 12/24/36) and
~90 ms for its 560-channel 128x128 decoder conv, a few GFLOP/s. The same sum computed tap by tap, one block of
channels at a time so that a block's input and output stay in the L2 cache, takes 16-45 ms there. On small
maps oneDNN is faster, so this path only takes the convolutions where it measured a win (see ``_worth_it``).

Each output is the centre tap plus the eight shifted taps clipped to the map, exactly the zero-padded
convolution; only the summation order differs (float32 results agree to ~1e-6 relative). Eval-mode forwards
without autograd only: a forward that autograd records runs the stock convolution.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from .conv_paths import cpu_float32, eager_cpu_inference, same_3x3

__all__ = ["blocked_depthwise", "blocked_depthwise_convs", "blocked_depthwise_conv2d"]

_KEY = "_seglab_blocked_depthwise"
BLOCK_BYTES = 1 << 20  # per block of channels (input and output both fit a 2 MiB L2 with room to spare)
MIN_AREA = 128 * 128  # non-dilated maps at least this large, where oneDNN's kernel measured slower
MIN_DILATED_ELEMENTS = 1 << 20  # dilated convs from this many elements per sample (C * H * W)
MIN_ELEMENTS = 1 << 22  # any 3x3 depth-wise conv from this many elements per sample


def _taps(h: int, w: int, d: int) -> list[tuple[int, int, slice, slice, slice, slice]]:
    """(row, col, out rows, out cols, in rows, in cols) of the eight off-centre taps that overlap the map."""
    taps = []
    for i in range(3):
        for j in range(3):
            dy, dx = (i - 1) * d, (j - 1) * d
            if (i, j) == (1, 1) or abs(dy) >= h or abs(dx) >= w:
                continue
            oy, ox = slice(max(0, -dy), h - max(0, dy)), slice(max(0, -dx), w - max(0, dx))
            taps.append((i, j, oy, ox, slice(oy.start + dy, oy.stop + dy), slice(ox.start + dx, ox.stop + dx)))
    return taps


def blocked_depthwise_conv2d(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                             dilation: int = 1) -> torch.Tensor:
    """A 3x3 stride-1 depth-wise conv with padding ``dilation``: (N, C, H, W) x (C, 1, 3, 3) -> (N, C, H, W)."""
    n, c, h, w = x.shape
    if weight.shape != (c, 1, 3, 3):
        raise ValueError(f"blocked_depthwise_conv2d: weight {tuple(weight.shape)} is not ({c}, 1, 3, 3)")
    out = torch.empty_like(x, memory_format=torch.contiguous_format)
    block = max(1, BLOCK_BYTES // (h * w * x.element_size()))
    taps = _taps(h, w, dilation)
    kernel = weight[:, 0]
    for i in range(n):
        for s in range(0, c, block):
            xs, os_, ks = x[i, s:s + block], out[i, s:s + block], kernel[s:s + block]
            centre = ks[:, 1, 1].reshape(-1, 1, 1)
            if bias is None:
                torch.mul(xs, centre, out=os_)
            else:
                torch.addcmul(bias[s:s + block].reshape(-1, 1, 1), xs, centre, out=os_)
            for r, q, oy, ox, iy, ix in taps:
                os_[:, oy, ox].addcmul_(xs[:, iy, ix], ks[:, r, q].reshape(-1, 1, 1))
    return out


def _eligible(conv: nn.Module) -> bool:
    """A plain 3x3, stride-1, 'same'-padded depth-wise 2D convolution (one filter per channel)."""
    return same_3x3(conv) and conv.groups == conv.in_channels == conv.out_channels


def _worth_it(x: torch.Tensor, weight: torch.Tensor, d: int) -> bool:
    if not cpu_float32(x, weight) or not x.is_contiguous():  # channels-last: oneDNN's NHWC kernel is the fast one
        return False
    c, h, w = x.shape[1:]
    return h * w >= MIN_AREA or c * h * w >= MIN_ELEMENTS or (d > 1 and c * h * w >= MIN_DILATED_ELEMENTS)


class _BlockedForward:
    """A conv's ``_conv_forward`` replacement; an object, not a bound method, so copies and pickles keep it."""

    def __init__(self, conv: nn.Conv2d) -> None:
        self.conv = conv

    def __call__(self, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        conv = self.conv
        d = conv.dilation[0]
        if not eager_cpu_inference(x) or conv.training or not _worth_it(x, weight, d):
            return nn.Conv2d._conv_forward(conv, x, weight, bias)
        return blocked_depthwise_conv2d(x, weight, bias, d)


def blocked_depthwise_convs(model: nn.Module) -> int:
    """How many convolutions of ``model`` run through the blocked path (by :func:`blocked_depthwise`)."""
    return sum(_KEY in m.__dict__ for m in model.modules())


def blocked_depthwise(model: nn.Module, inplace: bool = False) -> nn.Module:
    """Return ``model`` with its 3x3 stride-1 depth-wise convolutions computed tap by tap on channel blocks.

    Applies to eval-mode forwards without autograd on contiguous float32 CPU maps large enough to gain
    (anything else runs the stock convolution). Composes with :func:`seglab.models.fuse_conv_bn`.
    Works on a copy unless ``inplace=True``.
    """
    if not inplace:
        model = copy.deepcopy(model)
    for module in model.modules():
        if _KEY not in module.__dict__ and _eligible(module):
            module.__dict__[_KEY] = True
            # An instance attribute: nn.Conv2d.forward and the BN fold both call self._conv_forward.
            module.__dict__["_conv_forward"] = _BlockedForward(module)
    return model
