"""STDC networks from "Rethinking BiSeNet For Real-time Semantic Segmentation"
(https://arxiv.org/abs/2104.13188).

``STDCNet`` is the short-term dense concatenate backbone; ``STDCContextPathNet`` adds BiSeNet's
context path (attention refinement + feature fusion) on top. Keys (MMSeg's): ``stages.<i>`` (0, 1
are the stem convs, then ``stages.<i>.<j>.layers.<k>``/``downsample``/``skip``), and for the
context path ``backbone.*``, ``arms.<i>``, ``convs.<i>``, ``conv_avg``, ``ffm.conv0/attention``.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from ...registry import MODELS, ConfigError
from ..layers import ConvModule, resize
from ..weight_init import kaiming_cnn_init, load_pretrained, resolve_init_cfg
from .bisenetv1 import AttentionRefinementModule

__all__ = ["STDCNet", "STDCContextPathNet"]

_BN = dict(type="BN")
_RELU = dict(type="ReLU")


class STDCModule(nn.Module):
    """A 1x1 conv then ``num_convs - 1`` 3x3 convs of halving width whose outputs are concatenated
    (``fusion_type='cat'``) or concatenated and added to the input (``'add'``).

    (N, in_channels, H, W) -> (N, out_channels, H/stride, W/stride).
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int, norm_cfg: dict | None = None,
                 act_cfg: dict | None = None, num_convs: int = 4, fusion_type: str = "add") -> None:
        super().__init__()
        if num_convs <= 1:
            raise ConfigError(f"STDCModule: num_convs must be > 1, got {num_convs}")
        if fusion_type not in ("add", "cat"):
            raise ConfigError(f"STDCModule: fusion_type must be 'add' or 'cat', got {fusion_type!r}")
        self.stride, self.with_downsample, self.fusion_type = stride, stride == 2, fusion_type
        half = out_channels // 2
        self.layers = nn.ModuleList()
        # conv_0 uses ConvModule's default ReLU whatever act_cfg says, as in MMSeg.
        conv_0 = ConvModule(in_channels, half, 1, norm_cfg=norm_cfg)
        if self.with_downsample:
            self.downsample = ConvModule(half, half, 3, stride=2, padding=1, groups=half, norm_cfg=norm_cfg,
                                         act_cfg=None)
            if fusion_type == "add":
                # The same downsample module also sits in layers[0] (two key paths, one module, as in MMSeg).
                self.layers.append(nn.Sequential(conv_0, self.downsample))
                self.skip = nn.Sequential(
                    ConvModule(in_channels, in_channels, 3, stride=2, padding=1, groups=in_channels,
                               norm_cfg=norm_cfg, act_cfg=None),
                    ConvModule(in_channels, out_channels, 1, norm_cfg=norm_cfg, act_cfg=None),
                )
            else:
                self.layers.append(conv_0)
                self.skip = nn.AvgPool2d(kernel_size=3, stride=2, padding=1)
        else:
            self.layers.append(conv_0)
        for i in range(1, num_convs):
            out_factor = 2 ** (i + 1) if i != num_convs - 1 else 2 ** i
            self.layers.append(ConvModule(out_channels // 2 ** i, out_channels // out_factor, 3, padding=1,
                                          norm_cfg=norm_cfg, act_cfg=act_cfg))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.fusion_type == "add":
            outs, y = [], x
            for layer in self.layers:
                y = layer(y)
                outs.append(y)
            return torch.cat(outs, dim=1) + (self.skip(x) if self.with_downsample else x)
        x0 = self.layers[0](x)
        outs, y = [x0], self.downsample(x0) if self.with_downsample else x0
        for layer in self.layers[1:]:
            y = layer(y)
            outs.append(y)
        if self.with_downsample:
            outs[0] = self.skip(x0)
        return torch.cat(outs, dim=1)


class FeatureFusionModule(nn.Module):
    """STDC's fusion: concat, 1x1 conv, then add a squeeze-excitation-gated copy (reduction ``scale_factor``)."""

    def __init__(self, in_channels: int, out_channels: int, scale_factor: int = 4, norm_cfg: dict | None = _BN,
                 act_cfg: dict | None = _RELU) -> None:
        super().__init__()
        channels = out_channels // scale_factor
        self.conv0 = ConvModule(in_channels, out_channels, 1, norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.attention = nn.Sequential(
            nn.AdaptiveAvgPool2d((1, 1)),
            ConvModule(out_channels, channels, 1, norm_cfg=None, bias=False, act_cfg=act_cfg),
            ConvModule(channels, out_channels, 1, norm_cfg=None, bias=False, act_cfg=None),
            nn.Sigmoid(),
        )

    def forward(self, spatial_inputs: torch.Tensor, context_inputs: torch.Tensor) -> torch.Tensor:
        x = self.conv0(torch.cat([spatial_inputs, context_inputs], dim=1))
        return x * self.attention(x) + x


@MODELS.register_module()
class STDCNet(nn.Module):
    """Two stride-2 stem convs, then three stages of STDC modules (``STDCNet1``: 2 modules each;
    ``STDCNet2``: 4, 5, 3).

    Input (N, in_channels, H, W) -> the three stage outputs at strides 8, 16, 32 with ``channels[2:]``
    channels (the last is ``max(1024, channels[4])`` when ``with_final_conv``).
    """

    arch_settings: ClassVar[dict[str, list[tuple[int, ...]]]] = {
        "STDCNet1": [(2, 1), (2, 1), (2, 1)],
        "STDCNet2": [(2, 1, 1, 1), (2, 1, 1, 1, 1), (2, 1, 1)],
    }

    def __init__(
        self,
        stdc_type: str,
        in_channels: int,
        channels: Sequence[int],
        bottleneck_type: str,
        norm_cfg: dict | None,
        act_cfg: dict | None,
        num_convs: int = 4,
        with_final_conv: bool = False,
        pretrained: str | None = None,
        init_cfg: dict | list | None = None,
    ) -> None:
        super().__init__()
        if stdc_type not in self.arch_settings:
            raise ConfigError(f"STDCNet: stdc_type must be one of {list(self.arch_settings)}, got {stdc_type!r}")
        if bottleneck_type not in ("add", "cat"):
            raise ConfigError(f"STDCNet: bottleneck_type must be 'add' or 'cat', got {bottleneck_type!r}")
        if len(channels) != 5:
            raise ConfigError(f"STDCNet: channels needs 5 entries (2 stem convs + 3 stages), got {tuple(channels)}")
        self.init_cfg = resolve_init_cfg(pretrained, init_cfg, "STDCNet")
        self.pretrained = pretrained
        self.in_channels, self.channels = in_channels, tuple(channels)
        self.stage_strides = self.arch_settings[stdc_type]
        self.num_convs, self.with_final_conv = num_convs, with_final_conv
        kw = dict(norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.stages = nn.ModuleList([
            ConvModule(in_channels, channels[0], 3, stride=2, padding=1, **kw),
            ConvModule(channels[0], channels[1], 3, stride=2, padding=1, **kw),
        ])
        self.num_shallow_features = len(self.stages)
        for strides in self.stage_strides:
            idx = len(self.stages) - 1
            self.stages.append(nn.Sequential(*[
                STDCModule(channels[idx] if i == 0 else channels[idx + 1], channels[idx + 1], stride,
                           num_convs=num_convs, fusion_type=bottleneck_type, **kw)
                for i, stride in enumerate(strides)
            ]))
        if with_final_conv:
            self.final_conv = ConvModule(channels[-1], max(1024, channels[-1]), 1, **kw)
        self.out_channels = [channels[2], channels[3], max(1024, channels[4]) if with_final_conv else channels[4]]
        self.out_strides = [8, 16, 32]
        kaiming_cnn_init(self)

    def init_weights(self) -> bool:
        """Load ``init_cfg`` Pretrained weights (the constructor did the default init); True when some were loaded."""
        return load_pretrained(self, self.init_cfg)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """x: (N, C, H, W) -> (stride 8, stride 16, stride 32) maps."""
        outs = []
        for stage in self.stages:
            x = stage(x)
            outs.append(x)
        if self.with_final_conv:
            outs[-1] = self.final_conv(outs[-1])
        return tuple(outs[self.num_shallow_features:])


@MODELS.register_module()
class STDCContextPathNet(nn.Module):
    """STDCNet (``backbone_cfg``) + BiSeNet context path on its last two maps + feature fusion.

    Input (N, C, H, W) -> (backbone stride-8 map, context stride 16, context stride 8, fused stride 8):
    channels (backbone's first, ``out_channels``, ``out_channels``, ``ffm_cfg['out_channels']``).
    The STDCHead reads index 0 (the detail map), the decode head index 3.
    """

    def __init__(
        self,
        backbone_cfg: dict | nn.Module,
        last_in_channels: Sequence[int] = (1024, 512),
        out_channels: int = 128,
        ffm_cfg: dict = dict(in_channels=512, out_channels=256, scale_factor=4),  # noqa: B006 - never mutated
        upsample_mode: str = "nearest",
        align_corners: bool | None = None,
        norm_cfg: dict | None = _BN,
        pretrained: str | None = None,
        init_cfg: dict | list | None = None,
    ) -> None:
        super().__init__()
        self.backbone = MODELS.build(backbone_cfg)
        self.init_cfg = resolve_init_cfg(pretrained, init_cfg, "STDCContextPathNet")
        self.pretrained = pretrained
        self.arms = nn.ModuleList()
        self.convs = nn.ModuleList()
        for channels in last_in_channels:
            self.arms.append(AttentionRefinementModule(channels, out_channels, norm_cfg=norm_cfg))
            self.convs.append(ConvModule(out_channels, out_channels, 3, padding=1, norm_cfg=norm_cfg))
        self.conv_avg = ConvModule(last_in_channels[0], out_channels, 1, norm_cfg=norm_cfg)
        unknown = set(ffm_cfg) - {"in_channels", "out_channels", "scale_factor", "norm_cfg", "act_cfg"}
        if unknown:
            raise ConfigError(f"STDCContextPathNet: ffm_cfg has unknown keys {sorted(unknown)}; valid: in_channels, "
                              "out_channels, scale_factor, norm_cfg, act_cfg")
        self.ffm = FeatureFusionModule(**{"norm_cfg": norm_cfg, **ffm_cfg})
        self.upsample_mode, self.align_corners = upsample_mode, align_corners
        feat = getattr(self.backbone, "out_channels", None)
        first = feat[0] if feat else None
        self.out_channels = [first, out_channels, out_channels, ffm_cfg["out_channels"]]
        self.out_strides = [8, 16, 8, 8]

    def init_weights(self) -> bool:
        """Load the STDC backbone's pretrained weights, then this model's own Pretrained ``init_cfg``."""
        backbone_init = getattr(self.backbone, "init_weights", None)
        loaded = bool(backbone_init()) if callable(backbone_init) else False
        return load_pretrained(self, self.init_cfg) or loaded

    def _up(self, x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        return resize(x, size=like.shape[2:], mode=self.upsample_mode, align_corners=self.align_corners)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """x: (N, C, H, W) -> the four maps described in the class docstring."""
        outs = list(self.backbone(x))
        feature_up = self._up(self.conv_avg(F.adaptive_avg_pool2d(outs[-1], 1)), outs[-1])
        arms_out = []
        for i, (arm, conv) in enumerate(zip(self.arms, self.convs)):
            x_arm = arm(outs[len(outs) - 1 - i]) + feature_up
            feature_up = conv(self._up(x_arm, outs[len(outs) - 2 - i]))
            arms_out.append(feature_up)
        feat_fuse = self.ffm(outs[0], arms_out[1])
        return (outs[0], *arms_out, feat_fuse)
