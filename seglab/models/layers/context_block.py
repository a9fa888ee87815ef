"""Global context block from "GCNet: Non-local Networks Meet Squeeze-Excitation Networks and Beyond"
(https://arxiv.org/abs/1904.11492), with MMCV's ``ContextBlock`` arguments and keys
(``conv_mask``, ``channel_add_conv``, ``channel_mul_conv``)."""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ...registry import MODELS, ConfigError

__all__ = ["ContextBlock"]

_FUSIONS = ("channel_add", "channel_mul")


def _transform(channels: int, planes: int) -> nn.Sequential:
    """1x1 bottleneck with LayerNorm over (planes, 1, 1): (N, C, 1, 1) -> (N, C, 1, 1)."""
    return nn.Sequential(nn.Conv2d(channels, planes, 1), nn.LayerNorm([planes, 1, 1]), nn.ReLU(inplace=True),
                         nn.Conv2d(planes, channels, 1))


@MODELS.register_module()
class ContextBlock(nn.Module):
    """Pool one global context vector per image and fuse it into every position.

    Args:
        in_channels: channels C of the input.
        ratio: bottleneck width ``int(C * ratio)`` of the transforms.
        pooling_type: 'att' (softmax-weighted sum over positions, via ``conv_mask``) or 'avg'.
        fusion_types: any of 'channel_add' (x + t(ctx)) and 'channel_mul' (x * sigmoid(t(ctx))).
    """

    def __init__(self, in_channels: int, ratio: float, pooling_type: str = "att",
                 fusion_types: Sequence[str] = ("channel_add",)) -> None:
        super().__init__()
        if pooling_type not in ("att", "avg"):
            raise ConfigError(f"ContextBlock: pooling_type must be 'att' or 'avg', got {pooling_type!r}")
        if not isinstance(fusion_types, (list, tuple)) or not fusion_types or any(
                f not in _FUSIONS for f in fusion_types):
            raise ConfigError(f"ContextBlock: fusion_types must be a non-empty list of {_FUSIONS}, "
                              f"got {fusion_types!r}")
        self.in_channels, self.ratio = in_channels, ratio
        self.planes = int(in_channels * ratio)
        self.pooling_type, self.fusion_types = pooling_type, tuple(fusion_types)
        if pooling_type == "att":
            self.conv_mask = nn.Conv2d(in_channels, 1, kernel_size=1)
            nn.init.kaiming_normal_(self.conv_mask.weight, mode="fan_in", nonlinearity="relu")
            nn.init.zeros_(self.conv_mask.bias)
        else:
            self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.channel_add_conv = _transform(in_channels, self.planes) if "channel_add" in fusion_types else None
        self.channel_mul_conv = _transform(in_channels, self.planes) if "channel_mul" in fusion_types else None
        # The last conv of each transform starts at zero, so a fresh block is the identity (add) / x/2 (mul).
        for t in (self.channel_add_conv, self.channel_mul_conv):
            if t is not None:
                nn.init.zeros_(t[-1].weight)
                nn.init.zeros_(t[-1].bias)

    def spatial_pool(self, x: torch.Tensor) -> torch.Tensor:
        """Context vector (N, C, 1, 1) of x (N, C, H, W)."""
        if self.pooling_type == "avg":
            return self.avg_pool(x)
        n, c = x.shape[:2]
        weights = self.conv_mask(x).reshape(n, 1, -1).softmax(dim=2)  # (N, 1, HW)
        return torch.matmul(x.reshape(n, c, -1), weights.transpose(1, 2)).reshape(n, c, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (N, C, H, W) -> (N, C, H, W)."""
        context = self.spatial_pool(x)
        out = x
        if self.channel_mul_conv is not None:
            out = out * torch.sigmoid(self.channel_mul_conv(context))
        if self.channel_add_conv is not None:
            out = out + self.channel_add_conv(context)
        return out
