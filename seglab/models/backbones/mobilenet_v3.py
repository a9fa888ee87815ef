"""MobileNetV3 backbone from "Searching for MobileNetV3" (https://arxiv.org/abs/1905.02244), in MMSeg's
dilated form for segmentation (output stride 8: the last two strided blocks use dilation 2 and 4).

Keys: ``layer0.conv/bn`` (the stem), ``layer<i>.expand_conv/depthwise_conv/se/linear_conv``, and the
last 1x1 conv ``layer<n+1>.conv/bn`` (MMSeg's layout).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from ...registry import MODELS, ConfigError
from ..layers import ConvModule, InvertedResidualV3
from ..weight_init import kaiming_cnn_init, load_pretrained, resolve_init_cfg

__all__ = ["MobileNetV3"]

_SE_ACTS = (dict(type="ReLU"), dict(type="HSigmoid", bias=3.0, divisor=6.0))


@MODELS.register_module()
class MobileNetV3(nn.Module):
    """Stem + inverted residual blocks + a final 1x1 conv (576 channels for 'small', 960 for 'large').

    Input (N, 3, H, W) -> list of the ``out_indices`` layer outputs (layer 0 is the stem; strides 2, 4 or 8).
    ``reduction_factor`` divides the widths of the last blocks (from block 9 in 'small', 13 in 'large').
    ``frozen_stages=k`` freezes layers 0..k (eval mode, no gradients).
    """

    # kernel size, mid channels, out channels, with SE, activation, stride
    arch_settings: ClassVar[dict[str, list[tuple]]] = {
        "small": [(3, 16, 16, True, "ReLU", 2), (3, 72, 24, False, "ReLU", 2), (3, 88, 24, False, "ReLU", 1),
                  (5, 96, 40, True, "HSwish", 2), (5, 240, 40, True, "HSwish", 1), (5, 240, 40, True, "HSwish", 1),
                  (5, 120, 48, True, "HSwish", 1), (5, 144, 48, True, "HSwish", 1), (5, 288, 96, True, "HSwish", 2),
                  (5, 576, 96, True, "HSwish", 1), (5, 576, 96, True, "HSwish", 1)],
        "large": [(3, 16, 16, False, "ReLU", 1), (3, 64, 24, False, "ReLU", 2), (3, 72, 24, False, "ReLU", 1),
                  (5, 72, 40, True, "ReLU", 2), (5, 120, 40, True, "ReLU", 1), (5, 120, 40, True, "ReLU", 1),
                  (3, 240, 80, False, "HSwish", 2), (3, 200, 80, False, "HSwish", 1),
                  (3, 184, 80, False, "HSwish", 1), (3, 184, 80, False, "HSwish", 1),
                  (3, 480, 112, True, "HSwish", 1), (3, 672, 112, True, "HSwish", 1),
                  (5, 672, 160, True, "HSwish", 2), (5, 960, 160, True, "HSwish", 1),
                  (5, 960, 160, True, "HSwish", 1)],
    }
    # Per arch: (first dilated layer, first layer of dilation 4, first reduced block, final conv width).
    _dilation_plan: ClassVar[dict[str, tuple[int, int, int, int]]] = {"small": (4, 9, 8, 576),
                                                                       "large": (7, 13, 12, 960)}

    def __init__(
        self,
        arch: str = "small",
        conv_cfg: dict | None = None,
        norm_cfg: dict | None = dict(type="BN"),  # noqa: B006 - never mutated
        out_indices: Sequence[int] = (0, 1, 12),
        frozen_stages: int = -1,
        reduction_factor: int = 1,
        norm_eval: bool = False,
        with_cp: bool = False,
        pretrained: str | None = None,
        init_cfg: dict | list | None = None,
    ) -> None:
        super().__init__()
        if arch not in self.arch_settings:
            raise ConfigError(f"MobileNetV3: arch must be one of {list(self.arch_settings)}, got {arch!r}")
        if not isinstance(reduction_factor, int) or reduction_factor <= 0:
            raise ConfigError(f"MobileNetV3: reduction_factor must be a positive int, got {reduction_factor!r}")
        num_layers = len(self.arch_settings[arch]) + 2
        out_indices = tuple(out_indices)
        if not out_indices or any(not isinstance(i, int) or i not in range(num_layers) for i in out_indices):
            raise ConfigError(f"MobileNetV3: out_indices {out_indices} must be ints in range(0, {num_layers})")
        if frozen_stages not in range(-1, num_layers):
            raise ConfigError(f"MobileNetV3: frozen_stages must be in range(-1, {num_layers}), got {frozen_stages}")
        self.init_cfg = resolve_init_cfg(pretrained, init_cfg, "MobileNetV3")
        self.pretrained = pretrained
        self.arch, self.conv_cfg, self.norm_cfg = arch, conv_cfg, norm_cfg
        self.out_indices, self.frozen_stages, self.reduction_factor = out_indices, frozen_stages, reduction_factor
        self.norm_eval, self.with_cp = norm_eval, with_cp
        self.layers = self._make_layers()
        kaiming_cnn_init(self)
        self._freeze_stages()

    def _make_layers(self) -> list[str]:
        dilate_from, dilate4_from, reduce_from, final_channels = self._dilation_plan[self.arch]
        # The stem always uses TF-style padding (MMSeg's choice, for ported TF weights).
        self.layer0 = ConvModule(3, 16, 3, stride=2, padding=1, conv_cfg=dict(type="Conv2dAdaptivePadding"),
                                 norm_cfg=self.norm_cfg, act_cfg=dict(type="HSwish"))
        names, in_channels, total_stride = ["layer0"], 16, 2
        layer_channels, layer_strides = [16], [2]
        for i, (kernel, mid, out, with_se, act, stride) in enumerate(self.arch_settings[self.arch]):
            index = i + 1
            if i >= reduce_from:
                mid, out = mid // self.reduction_factor, out // self.reduction_factor
            dilation = 1 if index < dilate_from else 2 if index < dilate4_from else 4
            # Blocks from dilate_from on keep the resolution: their stride becomes a dilation.
            block_stride = 1 if index >= dilate_from else stride
            layer = InvertedResidualV3(
                in_channels, out, mid, kernel_size=kernel, stride=block_stride,
                se_cfg=dict(channels=mid, ratio=4, act_cfg=_SE_ACTS) if with_se else None,
                with_expand_conv=in_channels != mid, conv_cfg=self.conv_cfg, norm_cfg=self.norm_cfg,
                act_cfg=dict(type=act), with_cp=self.with_cp, dilation=dilation, adaptive_padding=stride == 2,
            )
            self.add_module(f"layer{index}", layer)
            names.append(f"layer{index}")
            in_channels = out
            total_stride *= block_stride
            layer_channels.append(out)
            layer_strides.append(total_stride)
        last = f"layer{len(names)}"
        self.add_module(last, ConvModule(in_channels, final_channels, 1, dilation=4, conv_cfg=self.conv_cfg,
                                         norm_cfg=self.norm_cfg, act_cfg=dict(type="HSwish")))
        names.append(last)
        layer_channels.append(final_channels)
        layer_strides.append(total_stride)
        self.out_channels = [layer_channels[i] for i in self.out_indices]
        self.out_strides = [layer_strides[i] for i in self.out_indices]
        return names

    def init_weights(self) -> bool:
        """Load ``init_cfg`` Pretrained weights (the constructor did the default init); True when some were loaded."""
        return load_pretrained(self, self.init_cfg)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """x: (N, 3, H, W) -> list of the ``out_indices`` layer outputs."""
        outs = []
        for i, name in enumerate(self.layers):
            x = getattr(self, name)(x)
            if i in self.out_indices:
                outs.append(x)
        return outs

    def _freeze_stages(self) -> None:
        for i in range(self.frozen_stages + 1):
            layer = getattr(self, f"layer{i}")
            layer.eval()
            for param in layer.parameters():
                param.requires_grad = False

    def train(self, mode: bool = True) -> MobileNetV3:
        """Set train mode but keep frozen layers (and all BN layers when ``norm_eval``) in eval mode."""
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for m in self.modules():
                if isinstance(m, _BatchNorm):
                    m.eval()
        return self
