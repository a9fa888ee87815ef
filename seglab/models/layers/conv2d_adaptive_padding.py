"""Conv2dAdaptivePadding: TensorFlow-style "SAME" padding (MMCV's ``conv_cfg=dict(type='Conv2dAdaptivePadding')``)."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ...registry import ConfigError

__all__ = ["Conv2dAdaptivePadding"]


class Conv2dAdaptivePadding(nn.Conv2d):
    """A Conv2d that pads its input on the fly so the output is ceil(H / stride) x ceil(W / stride).

    Any extra padding pixel goes to the bottom/right, as in TensorFlow; the ``padding`` argument is
    ignored (MMCV's semantics), so ported TF/MobileNetV3 weights give the same outputs.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | tuple[int, int],
                 stride: int | tuple[int, int] = 1, padding: int | tuple[int, int] = 0,
                 dilation: int | tuple[int, int] = 1, groups: int = 1, bias: bool = True,
                 padding_mode: str = "zeros") -> None:
        if padding_mode != "zeros":
            raise ConfigError(f"Conv2dAdaptivePadding pads with zeros only, got padding_mode={padding_mode!r}")
        super().__init__(in_channels, out_channels, kernel_size, stride, 0, dilation, groups, bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (N, C_in, H, W) -> (N, C_out, ceil(H/stride), ceil(W/stride))."""
        pads = []
        for size, k, s, d in zip(x.shape[-2:], self.weight.shape[-2:], self.stride, self.dilation):
            total = max((math.ceil(size / s) - 1) * s + (k - 1) * d + 1 - size, 0)
            pads.append((total // 2, total - total // 2))
        (top, bottom), (left, right) = pads
        if top or bottom or left or right:
            x = F.pad(x, [left, right, top, bottom])
        return F.conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)
