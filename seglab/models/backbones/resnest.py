"""ResNeSt backbone from "ResNeSt: Split-Attention Networks" (https://arxiv.org/abs/2004.08955).

A ResNetV1d whose bottleneck 3x3 conv is a split-attention conv (keys ``conv2.conv``, ``conv2.bn0``,
``conv2.fc1``, ``conv2.bn1``, ``conv2.fc2``); strided blocks average-pool after it (``avd_layer``).
"""
from __future__ import annotations

from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from ...registry import MODELS, ConfigError
from ..layers import build_conv_layer, build_norm_layer
from .resnet import Bottleneck as _ResNetBottleneck
from .resnet import ResNet, inherit_signature

__all__ = ["ResNeSt", "ResNeStBottleneck", "SplitAttentionConv2d"]


class SplitAttentionConv2d(nn.Module):
    """Conv producing ``radix`` groups of maps, fused by a softmax attention over the radix groups.

    (N, in_channels, H, W) -> (N, channels, H', W').
    """

    def __init__(
        self,
        in_channels: int,
        channels: int,
        kernel_size: int,
        stride: int = 1,
        padding: int = 0,
        dilation: int = 1,
        groups: int = 1,
        radix: int = 2,
        reduction_factor: int = 4,
        conv_cfg: dict | None = None,
        norm_cfg: dict = dict(type="BN"),  # noqa: B006 - never mutated
        dcn: dict | None = None,
    ) -> None:
        super().__init__()
        if dcn is not None:
            raise ConfigError("SplitAttentionConv2d: dcn needs compiled deformable-conv ops; remove 'dcn'")
        if radix < 1:
            raise ConfigError(f"ResNeSt radix must be >= 1, got {radix}")
        inter_channels = max(in_channels * radix // reduction_factor, 32)
        self.radix, self.groups, self.channels = radix, groups, channels
        self.conv = build_conv_layer(conv_cfg, in_channels, channels * radix, kernel_size, stride=stride,
                                     padding=padding, dilation=dilation, groups=groups * radix, bias=False)
        self.norm0_name, norm0 = build_norm_layer(norm_cfg, channels * radix, postfix=0)
        self.add_module(self.norm0_name, norm0)
        self.relu = nn.ReLU(inplace=True)
        self.fc1 = nn.Conv2d(channels, inter_channels, 1, groups=groups)
        self.norm1_name, norm1 = build_norm_layer(norm_cfg, inter_channels, postfix=1)
        self.add_module(self.norm1_name, norm1)
        self.fc2 = nn.Conv2d(inter_channels, channels * radix, 1, groups=groups)

    @property
    def norm0(self) -> nn.Module:
        """Norm after the radix conv."""
        return getattr(self, self.norm0_name)

    @property
    def norm1(self) -> nn.Module:
        """Norm inside the attention branch."""
        return getattr(self, self.norm1_name)

    def _attention(self, logits: torch.Tensor) -> torch.Tensor:
        """(N, radix*C, 1, 1) logits -> (N, radix*C) weights, radix-major like the conv output."""
        batch = logits.size(0)
        if self.radix == 1:
            return torch.sigmoid(logits).reshape(batch, -1)
        # fc2 is grouped, so its channels are ordered (group, radix, c); softmax runs across radix.
        logits = logits.view(batch, self.groups, self.radix, -1).transpose(1, 2)
        return F.softmax(logits, dim=1).reshape(batch, -1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.norm0(self.conv(x)))
        batch = x.size(0)
        if self.radix > 1:
            splits = x.view(batch, self.radix, -1, *x.shape[2:])
            gap = splits.sum(dim=1)
        else:
            gap = x
        gap = F.adaptive_avg_pool2d(gap, 1)
        gap = self.relu(self.norm1(self.fc1(gap)))
        atten = self._attention(self.fc2(gap)).view(batch, -1, 1, 1)
        if self.radix > 1:
            out = (atten.view(batch, self.radix, -1, 1, 1) * splits).sum(dim=1)
        else:
            out = atten * x
        return out.contiguous()


class ResNeStBottleneck(_ResNetBottleneck):
    """ResNet bottleneck with a split-attention 3x3 conv (no ``bn2``) and optional stride-by-avg-pool."""

    expansion = 4

    def __init__(
        self,
        inplanes: int,
        planes: int,
        groups: int = 1,
        base_width: int = 4,
        base_channels: int = 64,
        radix: int = 2,
        reduction_factor: int = 4,
        avg_down_stride: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(inplanes, planes, groups=groups, base_width=base_width, base_channels=base_channels,
                         **kwargs)
        # Pool after the attention instead of striding the conv ("avd"), only where this block strides.
        self.avg_down_stride = avg_down_stride and self.conv2_stride > 1
        # Replacing conv2 in place keeps MMSeg's key order (conv1, bn1, conv2.*, conv3, bn3, downsample).
        self.conv2 = SplitAttentionConv2d(
            self.width, self.width, kernel_size=3, stride=1 if self.avg_down_stride else self.conv2_stride,
            padding=self.dilation, dilation=self.dilation, groups=groups, radix=radix,
            reduction_factor=reduction_factor, conv_cfg=self.conv_cfg, norm_cfg=self.norm_cfg,
        )
        delattr(self, self.norm2_name)
        if self.avg_down_stride:
            self.avd_layer = nn.AvgPool2d(3, self.conv2_stride, padding=1)

    def forward_conv2(self, x: torch.Tensor) -> torch.Tensor:
        """Split-attention conv (no norm/ReLU after it), then the optional avg-pool stride."""
        out = self.conv2(x)
        return self.avd_layer(out) if self.avg_down_stride else out


@MODELS.register_module()
@inherit_signature(ResNet.__init__, drop=("deep_stem", "avg_down"))
class ResNeSt(ResNet):
    """ResNeSt-50/101/152/200 (deep stem, avg-pool shortcuts); other arguments as :class:`ResNet`.

    Input (N, in_channels, H, W) -> tuple of (N, out_channels[i], H/out_strides[i], W/out_strides[i]).
    """

    arch_settings: ClassVar[dict[int, tuple[type[nn.Module], tuple[int, ...]]]] = {
        50: (ResNeStBottleneck, (3, 4, 6, 3)),
        101: (ResNeStBottleneck, (3, 4, 23, 3)),
        152: (ResNeStBottleneck, (3, 8, 36, 3)),
        200: (ResNeStBottleneck, (3, 24, 36, 3)),
    }

    def __init__(
        self,
        groups: int = 1,
        base_width: int = 4,
        radix: int = 2,
        reduction_factor: int = 4,
        avg_down_stride: bool = True,
        **kwargs: Any,
    ) -> None:
        # Set before ResNet.__init__, which builds the stages through block_kwargs().
        self._block_extra = dict(groups=groups, base_width=base_width, radix=radix,
                                 reduction_factor=reduction_factor, avg_down_stride=avg_down_stride)
        self.groups, self.base_width, self.radix = groups, base_width, radix
        self.reduction_factor, self.avg_down_stride = reduction_factor, avg_down_stride
        super().__init__(deep_stem=True, avg_down=True, **kwargs)

    def block_kwargs(self) -> dict[str, Any]:
        """Split-attention settings passed to every bottleneck."""
        return dict(self._block_extra, base_channels=self.base_channels)
