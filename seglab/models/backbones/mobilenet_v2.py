"""MobileNetV2 backbone from "MobileNetV2: Inverted Residuals and Linear Bottlenecks"
(https://arxiv.org/abs/1801.04381), with per-layer strides and dilations for segmentation.

Keys: ``conv1.conv/bn``, ``layer<i>.<j>.conv.<k>.conv/bn`` (MMSeg's layout).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from ...registry import MODELS, ConfigError
from ..layers import ConvModule, InvertedResidual, make_divisible
from ..weight_init import kaiming_cnn_init, load_pretrained, resolve_init_cfg

__all__ = ["MobileNetV2"]


@MODELS.register_module()
class MobileNetV2(nn.Module):
    """A stride-2 3x3 stem and seven layers of inverted residual blocks; returns the layers in ``out_indices``.

    Input (N, 3, H, W) -> tuple of (N, out_channels[i], H/out_strides[i], W/out_strides[i]).
    ``strides``/``dilations`` apply to the first block of each layer (the others use stride 1, dilation 1,
    as in MMSeg). ``frozen_stages=k`` freezes the stem's parameters and layers 1..k.
    """

    # expand ratio, output channels, number of blocks per layer
    arch_settings: ClassVar[list[list[int]]] = [
        [1, 16, 1], [6, 24, 2], [6, 32, 3], [6, 64, 4], [6, 96, 3], [6, 160, 3], [6, 320, 1],
    ]

    def __init__(
        self,
        widen_factor: float = 1.0,
        strides: Sequence[int] = (1, 2, 2, 2, 1, 2, 1),
        dilations: Sequence[int] = (1, 1, 1, 1, 1, 1, 1),
        out_indices: Sequence[int] = (1, 2, 4, 6),
        frozen_stages: int = -1,
        conv_cfg: dict | None = None,
        norm_cfg: dict = dict(type="BN"),  # noqa: B006 - never mutated
        act_cfg: dict = dict(type="ReLU6"),  # noqa: B006 - never mutated
        norm_eval: bool = False,
        with_cp: bool = False,
        pretrained: str | None = None,
        init_cfg: dict | list | None = None,
    ) -> None:
        super().__init__()
        num_layers = len(self.arch_settings)
        if not len(strides) == len(dilations) == num_layers:
            raise ConfigError(f"MobileNetV2: strides {tuple(strides)} and dilations {tuple(dilations)} need "
                              f"{num_layers} entries, one per layer")
        out_indices = tuple(out_indices)
        if not out_indices or any(i not in range(num_layers) for i in out_indices):
            raise ConfigError(f"MobileNetV2: out_indices {out_indices} must be layer indices in [0, {num_layers})")
        if frozen_stages not in range(-1, num_layers + 1):
            raise ConfigError(f"MobileNetV2: frozen_stages must be in [-1, {num_layers}], got {frozen_stages}")
        self.init_cfg = resolve_init_cfg(pretrained, init_cfg, "MobileNetV2")
        self.pretrained = pretrained
        self.widen_factor, self.strides, self.dilations = widen_factor, tuple(strides), tuple(dilations)
        self.out_indices, self.frozen_stages = out_indices, frozen_stages
        self.conv_cfg, self.norm_cfg, self.act_cfg = conv_cfg, norm_cfg, act_cfg
        self.norm_eval, self.with_cp = norm_eval, with_cp

        in_channels = make_divisible(32 * widen_factor, 8)
        self.conv1 = ConvModule(3, in_channels, 3, stride=2, padding=1, conv_cfg=conv_cfg, norm_cfg=norm_cfg,
                                act_cfg=act_cfg)
        self.layers: list[str] = []
        layer_channels, layer_strides, total_stride = [], [], 2
        for i, (expand_ratio, channel, num_blocks) in enumerate(self.arch_settings):
            out_channels = make_divisible(channel * widen_factor, 8)
            blocks = []
            for j in range(num_blocks):
                blocks.append(InvertedResidual(
                    in_channels, out_channels, self.strides[i] if j == 0 else 1, expand_ratio=expand_ratio,
                    dilation=self.dilations[i] if j == 0 else 1, conv_cfg=conv_cfg, norm_cfg=norm_cfg,
                    act_cfg=act_cfg, with_cp=with_cp,
                ))
                in_channels = out_channels
            self.add_module(f"layer{i + 1}", nn.Sequential(*blocks))
            self.layers.append(f"layer{i + 1}")
            total_stride *= self.strides[i]
            layer_channels.append(out_channels)
            layer_strides.append(total_stride)
        self.out_channels = [layer_channels[i] for i in out_indices]
        self.out_strides = [layer_strides[i] for i in out_indices]
        kaiming_cnn_init(self)
        self._freeze_stages()

    def init_weights(self) -> bool:
        """Load ``init_cfg`` Pretrained weights (the constructor did the default init); True when some were loaded."""
        return load_pretrained(self, self.init_cfg)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """x: (N, 3, H, W) -> tuple of the ``out_indices`` layer outputs (always a tuple, even of one)."""
        x = self.conv1(x)
        outs = []
        for i, layer_name in enumerate(self.layers):
            x = getattr(self, layer_name)(x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)

    def _freeze_stages(self) -> None:
        if self.frozen_stages >= 0:
            # Like MMSeg, the stem's parameters freeze but its BN statistics keep updating in train mode.
            for param in self.conv1.parameters():
                param.requires_grad = False
        for i in range(1, self.frozen_stages + 1):
            layer = getattr(self, f"layer{i}")
            layer.eval()
            for param in layer.parameters():
                param.requires_grad = False

    def train(self, mode: bool = True) -> MobileNetV2:
        """Set train mode but keep frozen layers (and all BN layers when ``norm_eval``) in eval mode."""
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for m in self.modules():
                if isinstance(m, _BatchNorm):
                    m.eval()
        return self
