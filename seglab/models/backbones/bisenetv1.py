"""BiSeNetV1 from "BiSeNet: Bilateral Segmentation Network for Real-time Semantic Segmentation"
(https://arxiv.org/abs/1808.00897).

A spatial path (three stride-2 convs, stride 8) and a context path (any 4-level backbone, e.g. a
ResNet, refined by attention refinement modules) fused by a feature fusion module. Keys (MMSeg's):
``context_path.backbone.*``, ``context_path.arm16/arm32/conv_head16/conv_head32/gap_conv``,
``spatial_path.layer<i>``, ``ffm.conv1/conv_atten``.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ...registry import MODELS, ConfigError
from ..layers import ConvModule, resize
from ..weight_init import load_pretrained, resolve_init_cfg

__all__ = ["BiSeNetV1", "AttentionRefinementModule"]

_BN = dict(type="BN")
_RELU = dict(type="ReLU")


class SpatialPath(nn.Module):
    """7x7/2, 3x3/2, 3x3/2 then 1x1 convs: (N, C_in, H, W) -> (N, num_channels[3], H/8, W/8)."""

    def __init__(self, in_channels: int = 3, num_channels: Sequence[int] = (64, 64, 64, 128),
                 conv_cfg: dict | None = None, norm_cfg: dict | None = _BN, act_cfg: dict | None = _RELU) -> None:
        super().__init__()
        if len(num_channels) != 4:
            raise ConfigError(f"BiSeNetV1: spatial_channels needs 4 entries, got {tuple(num_channels)}")
        kw = dict(conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=act_cfg)
        geometry = [(7, 2, 3), (3, 2, 1), (3, 2, 1), (1, 1, 0)]  # kernel, stride, padding per layer
        self.layers: list[str] = []
        prev = in_channels
        for i, (channels, (k, s, p)) in enumerate(zip(num_channels, geometry)):
            self.layers.append(f"layer{i + 1}")
            self.add_module(f"layer{i + 1}", ConvModule(prev, channels, k, stride=s, padding=p, **kw))
            prev = channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for name in self.layers:
            x = getattr(self, name)(x)
        return x


class AttentionRefinementModule(nn.Module):
    """3x3 conv, then channel attention from global pooling: (N, C_in, H, W) -> (N, C_out, H, W)."""

    def __init__(self, in_channels: int, out_channel: int, conv_cfg: dict | None = None,
                 norm_cfg: dict | None = _BN, act_cfg: dict | None = _RELU) -> None:
        super().__init__()
        self.conv_layer = ConvModule(in_channels, out_channel, 3, padding=1, conv_cfg=conv_cfg, norm_cfg=norm_cfg,
                                     act_cfg=act_cfg)
        self.atten_conv_layer = nn.Sequential(
            nn.AdaptiveAvgPool2d((1, 1)),
            ConvModule(out_channel, out_channel, 1, bias=False, conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=None),
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv_layer(x)
        return x * self.atten_conv_layer(x)


class ContextPath(nn.Module):
    """Backbone (4 levels) + ARMs on its stride-16/32 maps + a global-context term.

    Returns (stride-8 map, stride-16 map), both with ``context_channels[0]`` channels.
    """

    def __init__(self, backbone_cfg: dict | nn.Module, context_channels: Sequence[int] = (128, 256, 512),
                 align_corners: bool = False, conv_cfg: dict | None = None, norm_cfg: dict | None = _BN,
                 act_cfg: dict | None = _RELU) -> None:
        super().__init__()
        if len(context_channels) != 3:
            raise ConfigError(f"BiSeNetV1: context_channels needs 3 entries, got {tuple(context_channels)}")
        self.backbone = MODELS.build(backbone_cfg)
        self.align_corners = align_corners
        c0, c1, c2 = context_channels
        kw = dict(conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.arm16 = AttentionRefinementModule(c1, c0, **kw)
        self.arm32 = AttentionRefinementModule(c2, c0, **kw)
        self.conv_head32 = ConvModule(c0, c0, 3, padding=1, **kw)
        self.conv_head16 = ConvModule(c0, c0, 3, padding=1, **kw)
        self.gap_conv = nn.Sequential(nn.AdaptiveAvgPool2d((1, 1)), ConvModule(c2, c0, 1, **kw))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        feats = self.backbone(x)
        if len(feats) != 4:
            raise ConfigError(f"BiSeNetV1: backbone_cfg must give 4 feature maps (strides 4..32), got {len(feats)}")
        _, x_8, x_16, x_32 = feats
        x_32_sum = self.arm32(x_32) + self.gap_conv(x_32)
        x_32_up = self.conv_head32(resize(x_32_sum, size=x_16.shape[2:], mode="nearest"))
        x_16_sum = self.arm16(x_16) + x_32_up
        x_16_up = self.conv_head16(resize(x_16_sum, size=x_8.shape[2:], mode="nearest"))
        return x_16_up, x_32_up


class FeatureFusionModule(nn.Module):
    """Concatenate spatial and context maps, 1x1 conv, then add a channel-attended copy of the result."""

    def __init__(self, in_channels: int, out_channels: int, conv_cfg: dict | None = None,
                 norm_cfg: dict | None = _BN, act_cfg: dict | None = _RELU) -> None:
        super().__init__()
        kw = dict(conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.conv1 = ConvModule(in_channels, out_channels, 1, **kw)
        self.gap = nn.AdaptiveAvgPool2d((1, 1))
        self.conv_atten = nn.Sequential(ConvModule(out_channels, out_channels, 1, bias=False, **kw), nn.Sigmoid())

    def forward(self, x_sp: torch.Tensor, x_cp: torch.Tensor) -> torch.Tensor:
        fused = self.conv1(torch.cat([x_sp, x_cp], dim=1))
        return fused * self.conv_atten(self.gap(fused)) + fused


@MODELS.register_module()
class BiSeNetV1(nn.Module):
    """Spatial path + context path (``backbone_cfg``) + feature fusion.

    Input (N, in_channels, H, W) -> the ``out_indices`` of [fused (stride 8, ``out_channels``),
    context stride 8, context stride 16 (both ``context_channels[0]``)].
    ``context_channels[1]`` is the fusion module's input width: spatial_channels[3] + context_channels[0].
    ``align_corners`` is stored for MMSeg compatibility only: the context path upsamples with
    mode='nearest' (as in MMSeg), where it has no effect.
    """

    def __init__(
        self,
        backbone_cfg: dict | nn.Module,
        in_channels: int = 3,
        spatial_channels: Sequence[int] = (64, 64, 64, 128),
        context_channels: Sequence[int] = (128, 256, 512),
        out_indices: int | Sequence[int] = (0, 1, 2),
        align_corners: bool = False,
        out_channels: int = 256,
        conv_cfg: dict | None = None,
        norm_cfg: dict | None = dict(type="BN", requires_grad=True),  # noqa: B006 - never mutated
        act_cfg: dict | None = _RELU,
        pretrained: str | None = None,
        init_cfg: dict | list | None = None,
    ) -> None:
        super().__init__()
        out_indices = (out_indices,) if isinstance(out_indices, int) else tuple(out_indices)
        if not out_indices or any(i not in range(-3, 3) for i in out_indices):
            raise ConfigError(f"BiSeNetV1: out_indices {out_indices} must index its 3 outputs")
        if len(spatial_channels) == 4 and len(context_channels) == 3 and \
                spatial_channels[3] + context_channels[0] != context_channels[1]:
            raise ConfigError(f"BiSeNetV1: the fusion module reads spatial_channels[3] + context_channels[0] = "
                              f"{spatial_channels[3] + context_channels[0]} channels but context_channels[1] is "
                              f"{context_channels[1]}; make them equal")
        self.out_indices, self.align_corners = out_indices, align_corners
        self.conv_cfg, self.norm_cfg, self.act_cfg = conv_cfg, norm_cfg, act_cfg
        self.init_cfg = resolve_init_cfg(pretrained, init_cfg, "BiSeNetV1")
        self.pretrained = pretrained
        kw = dict(conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.context_path = ContextPath(backbone_cfg, context_channels, align_corners, **kw)
        self.spatial_path = SpatialPath(in_channels, spatial_channels, **kw)
        self.ffm = FeatureFusionModule(context_channels[1], out_channels, **kw)
        channels, strides = [out_channels, context_channels[0], context_channels[0]], [8, 8, 16]
        self.out_channels = [channels[i] for i in out_indices]
        self.out_strides = [strides[i] for i in out_indices]

    def init_weights(self) -> bool:
        """Load the context backbone's pretrained weights, then this model's own ``init_cfg`` Pretrained ones
        (which win, as in MMEngine); True when some were loaded."""
        backbone_init = getattr(self.context_path.backbone, "init_weights", None)
        loaded = bool(backbone_init()) if callable(backbone_init) else False
        return load_pretrained(self, self.init_cfg) or loaded

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """x: (N, C, H, W) -> tuple of the selected outputs."""
        x_context8, x_context16 = self.context_path(x)
        x_fuse = self.ffm(self.spatial_path(x), x_context8)
        outs = [x_fuse, x_context8, x_context16]
        return tuple(outs[i] for i in self.out_indices)
