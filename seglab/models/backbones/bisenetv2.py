"""BiSeNetV2 from "BiSeNet V2: Bilateral Network with Guided Aggregation for Real-time Semantic
Segmentation" (https://arxiv.org/abs/2004.02147).

A wide shallow detail branch (stride 8) and a narrow deep semantic branch (stride 32) fused by the
bilateral guided aggregation layer. Keys (MMSeg's layout): ``detail.detail_branch.<i>.<j>``,
``semantic.stage<i>`` (``stage1`` is the stem, ``stage<n>_CEBlock`` the context embedding), ``bga.*``.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ...registry import MODELS, ConfigError
from ..layers import ConvModule, DepthwiseSeparableConvModule, build_activation_layer, build_norm_layer, resize
from ..weight_init import kaiming_cnn_init, load_pretrained, resolve_init_cfg

__all__ = ["BiSeNetV2"]

_BN = dict(type="BN")
_RELU = dict(type="ReLU")


class DetailBranch(nn.Module):
    """Stages of 3x3 convs, each starting with a stride-2 conv: (N, C_in, H, W) -> (N, channels[-1], H/8, W/8)."""

    def __init__(self, detail_channels: Sequence[int] = (64, 64, 128), in_channels: int = 3,
                 conv_cfg: dict | None = None, norm_cfg: dict | None = _BN, act_cfg: dict | None = _RELU) -> None:
        super().__init__()
        kw = dict(padding=1, conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=act_cfg)
        stages = []
        for i, channels in enumerate(detail_channels):
            # The first stage has two convs, the others three (Table 1 of the paper).
            first_in = in_channels if i == 0 else detail_channels[i - 1]
            convs = [ConvModule(first_in, channels, 3, stride=2, **kw)]
            convs += [ConvModule(channels, channels, 3, **kw) for _ in range(1 if i == 0 else 2)]
            stages.append(nn.Sequential(*convs))
        self.detail_branch = nn.ModuleList(stages)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for stage in self.detail_branch:
            x = stage(x)
        return x


class StemBlock(nn.Module):
    """Stride-4 stem: a stride-2 conv, then a conv path and a max-pool path concatenated and fused."""

    def __init__(self, in_channels: int = 3, out_channels: int = 16, conv_cfg: dict | None = None,
                 norm_cfg: dict | None = _BN, act_cfg: dict | None = _RELU) -> None:
        super().__init__()
        kw = dict(conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.conv_first = ConvModule(in_channels, out_channels, 3, stride=2, padding=1, **kw)
        self.convs = nn.Sequential(
            ConvModule(out_channels, out_channels // 2, 1, **kw),
            ConvModule(out_channels // 2, out_channels, 3, stride=2, padding=1, **kw),
        )
        self.pool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1, ceil_mode=False)
        self.fuse_last = ConvModule(out_channels * 2, out_channels, 3, padding=1, **kw)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv_first(x)
        return self.fuse_last(torch.cat([self.convs(x), self.pool(x)], dim=1))


class GELayer(nn.Module):
    """Gather-and-expansion layer: 3x3 conv, depthwise expansion by ``exp_ratio`` (two depthwise convs when
    ``stride == 2``), linear 1x1 projection, residual (a separable-conv shortcut when strided), activation."""

    def __init__(self, in_channels: int, out_channels: int, exp_ratio: int = 6, stride: int = 1,
                 conv_cfg: dict | None = None, norm_cfg: dict | None = _BN, act_cfg: dict | None = _RELU) -> None:
        super().__init__()
        if stride not in (1, 2):
            raise ConfigError(f"GELayer: stride must be 1 or 2, got {stride}")
        mid = in_channels * exp_ratio
        kw = dict(conv_cfg=conv_cfg, norm_cfg=norm_cfg)
        self.conv1 = ConvModule(in_channels, in_channels, 3, padding=1, act_cfg=act_cfg, **kw)
        if stride == 1:
            self.dwconv = nn.Sequential(
                ConvModule(in_channels, mid, 3, padding=1, groups=in_channels, act_cfg=act_cfg, **kw))
            self.shortcut = None
        else:
            self.dwconv = nn.Sequential(
                ConvModule(in_channels, mid, 3, stride=2, padding=1, groups=in_channels, bias=False, act_cfg=None,
                           **kw),
                ConvModule(mid, mid, 3, padding=1, groups=mid, act_cfg=act_cfg, **kw),
            )
            self.shortcut = nn.Sequential(DepthwiseSeparableConvModule(
                in_channels, out_channels, 3, stride=2, padding=1, dw_norm_cfg=norm_cfg, dw_act_cfg=None,
                pw_norm_cfg=norm_cfg, pw_act_cfg=None, conv_cfg=conv_cfg))
        self.conv2 = nn.Sequential(ConvModule(mid, out_channels, 1, bias=False, act_cfg=None, **kw))
        self.act = build_activation_layer(act_cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.shortcut is None else self.shortcut(x)
        return self.act(self.conv2(self.dwconv(self.conv1(x))) + identity)


class CEBlock(nn.Module):
    """Context embedding: global average pool + BN + 1x1 conv added back to the input, then a 3x3 conv."""

    def __init__(self, in_channels: int = 3, out_channels: int = 16, conv_cfg: dict | None = None,
                 norm_cfg: dict | None = _BN, act_cfg: dict | None = _RELU) -> None:
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.gap = nn.Sequential(nn.AdaptiveAvgPool2d((1, 1)), build_norm_layer(norm_cfg or _BN, in_channels)[1])
        kw = dict(conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.conv_gap = ConvModule(in_channels, out_channels, 1, **kw)
        self.conv_last = ConvModule(out_channels, out_channels, 3, padding=1, **kw)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv_last(x + self.conv_gap(self.gap(x)))


class SemanticBranch(nn.Module):
    """Stem, GE-layer stages (the last has four layers, the others two), then the CE block.

    Returns every stage's output: strides 4, 8, 16, 32 for four channels entries, then the CE block's.
    """

    def __init__(self, semantic_channels: Sequence[int] = (16, 32, 64, 128), in_channels: int = 3,
                 exp_ratio: int = 6, conv_cfg: dict | None = None, norm_cfg: dict | None = _BN,
                 act_cfg: dict | None = _RELU) -> None:
        super().__init__()
        kw = dict(conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.in_channels, self.semantic_channels = in_channels, tuple(semantic_channels)
        self.semantic_stages: list[str] = []
        n = len(semantic_channels)
        for i, channels in enumerate(semantic_channels):
            name = f"stage{i + 1}"
            self.semantic_stages.append(name)
            if i == 0:
                self.add_module(name, StemBlock(in_channels, channels, **kw))
                continue
            repeats = 3 if i == n - 1 else 1
            layers = [GELayer(semantic_channels[i - 1], channels, exp_ratio, 2, **kw)]
            layers += [GELayer(channels, channels, exp_ratio, 1, **kw) for _ in range(repeats)]
            self.add_module(name, nn.Sequential(*layers))
        self.add_module(f"stage{n}_CEBlock", CEBlock(semantic_channels[-1], semantic_channels[-1], **kw))
        self.semantic_stages.append(f"stage{n}_CEBlock")

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        outs = []
        for name in self.semantic_stages:
            x = getattr(self, name)(x)
            outs.append(x)
        return outs


class BGALayer(nn.Module):
    """Bilateral guided aggregation: each branch gates the other (sigmoid) at its own resolution; the two
    results are summed at the detail resolution and fused by a 3x3 conv."""

    def __init__(self, out_channels: int = 128, align_corners: bool = False, conv_cfg: dict | None = None,
                 norm_cfg: dict | None = _BN, act_cfg: dict | None = _RELU) -> None:
        super().__init__()
        c = out_channels
        self.out_channels, self.align_corners = c, align_corners
        sep = dict(kernel_size=3, padding=1, dw_norm_cfg=norm_cfg, dw_act_cfg=None, pw_norm_cfg=None, pw_act_cfg=None,
                   conv_cfg=conv_cfg)
        plain = dict(padding=1, bias=False, conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=None)
        self.detail_dwconv = nn.Sequential(DepthwiseSeparableConvModule(c, c, **sep))
        self.detail_down = nn.Sequential(ConvModule(c, c, 3, stride=2, **plain),
                                         nn.AvgPool2d(kernel_size=3, stride=2, padding=1, ceil_mode=False))
        self.semantic_conv = nn.Sequential(ConvModule(c, c, 3, **plain))
        self.semantic_dwconv = nn.Sequential(DepthwiseSeparableConvModule(c, c, **sep))
        self.conv = ConvModule(c, c, 3, padding=1, conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=act_cfg)

    def forward(self, x_d: torch.Tensor, x_s: torch.Tensor) -> torch.Tensor:
        """x_d: (N, C, H/8, W/8) detail, x_s: (N, C, H/32, W/32) semantic -> (N, C, H/8, W/8)."""
        detail = self.detail_dwconv(x_d)
        semantic = resize(self.semantic_conv(x_s), size=detail.shape[2:], mode="bilinear",
                          align_corners=self.align_corners)
        fuse_1 = detail * torch.sigmoid(semantic)
        fuse_2 = self.detail_down(x_d) * torch.sigmoid(self.semantic_dwconv(x_s))
        fuse_2 = resize(fuse_2, size=fuse_1.shape[2:], mode="bilinear", align_corners=self.align_corners)
        return self.conv(fuse_1 + fuse_2)


@MODELS.register_module()
class BiSeNetV2(nn.Module):
    """Detail branch + semantic branch + BGA fusion.

    Input (N, in_channels, H, W) -> the ``out_indices`` of [BGA output (stride 8), semantic stages 1..n
    (strides 4, 8, 16, 32)]; the auxiliary "booster" heads read the semantic stages.
    ``conv_cfg``/``norm_cfg``/``act_cfg`` reach every layer (MMSeg's defaults BN/ReLU give its layers).
    """

    def __init__(
        self,
        in_channels: int = 3,
        detail_channels: Sequence[int] = (64, 64, 128),
        semantic_channels: Sequence[int] = (16, 32, 64, 128),
        semantic_expansion_ratio: int = 6,
        bga_channels: int = 128,
        out_indices: int | Sequence[int] = (0, 1, 2, 3, 4),
        align_corners: bool = False,
        conv_cfg: dict | None = None,
        norm_cfg: dict | None = _BN,
        act_cfg: dict | None = _RELU,
        pretrained: str | None = None,
        init_cfg: dict | list | None = None,
    ) -> None:
        super().__init__()
        if detail_channels[-1] != bga_channels or semantic_channels[-1] != bga_channels:
            raise ConfigError(f"BiSeNetV2: detail_channels[-1] ({detail_channels[-1]}) and semantic_channels[-1] "
                              f"({semantic_channels[-1]}) must both equal bga_channels ({bga_channels})")
        out_indices = (out_indices,) if isinstance(out_indices, int) else tuple(out_indices)
        num_outs = 1 + len(semantic_channels)
        if not out_indices or any(i not in range(-num_outs, num_outs) for i in out_indices):
            raise ConfigError(f"BiSeNetV2: out_indices {out_indices} must index the {num_outs} outputs")
        self.in_channels, self.out_indices, self.align_corners = in_channels, out_indices, align_corners
        self.detail_channels, self.semantic_channels = tuple(detail_channels), tuple(semantic_channels)
        self.semantic_expansion_ratio, self.bga_channels = semantic_expansion_ratio, bga_channels
        self.conv_cfg, self.norm_cfg, self.act_cfg = conv_cfg, norm_cfg, act_cfg
        self.init_cfg = resolve_init_cfg(pretrained, init_cfg, "BiSeNetV2")
        self.pretrained = pretrained
        kw = dict(conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.detail = DetailBranch(detail_channels, in_channels, **kw)
        self.semantic = SemanticBranch(semantic_channels, in_channels, semantic_expansion_ratio, **kw)
        self.bga = BGALayer(bga_channels, align_corners, **kw)
        channels = [bga_channels, *semantic_channels]
        strides = [2 ** len(detail_channels)] + [2 ** (i + 2) for i in range(len(semantic_channels))]
        self.out_channels = [channels[i] for i in out_indices]
        self.out_strides = [strides[i] for i in out_indices]
        kaiming_cnn_init(self)

    def init_weights(self) -> bool:
        """Load ``init_cfg`` Pretrained weights (the constructor did the default init); True when some were loaded."""
        return load_pretrained(self, self.init_cfg)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """x: (N, C, H, W) -> tuple of the selected outputs."""
        semantic = self.semantic(x)
        outs = [self.bga(self.detail(x), semantic[-1]), *semantic[:-1]]
        return tuple(outs[i] for i in self.out_indices)
