"""ConvNeXt from "A ConvNet for the 2020s" (https://arxiv.org/abs/2201.03545), with ConvNeXt V2's GRN
("ConvNeXt V2", https://arxiv.org/abs/2301.00808), as mmpretrain builds it (MMSeg's ``mmpretrain.ConvNeXt``).

Key layout (mmpretrain): ``downsample_layers.0.{0: conv, 1: LN2d}`` (the stem),
``downsample_layers.<i>.{0: LN2d, 1: conv}`` (i >= 1), ``stages.<i>.<j>.{depthwise_conv, norm,
pointwise_conv1, pointwise_conv2, gamma}`` (+ ``grn.{gamma,beta}``), ``norm<i>`` for each output stage.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.utils import checkpoint as cp

from ...registry import MODELS, ConfigError
from ..layers import build_activation_layer, build_norm_layer
from ..layers.layer_norm_2d import LayerNorm2d
from ..layers.transformer import DropPath
from ..weight_init import load_pretrained, resolve_init_cfg
from ._arch import resolve_arch

__all__ = ["GRN", "ConvNeXt", "ConvNeXtBlock"]

_LN2D = dict(type="LN2d", eps=1e-6)
_ARCHS = {
    "atto": ([2, 2, 6, 2], [40, 80, 160, 320]),
    "femto": ([2, 2, 6, 2], [48, 96, 192, 384]),
    "pico": ([2, 2, 6, 2], [64, 128, 256, 512]),
    "nano": ([2, 2, 8, 2], [80, 160, 320, 640]),
    "tiny": ([3, 3, 9, 3], [96, 192, 384, 768]),
    "small": ([3, 3, 27, 3], [96, 192, 384, 768]),
    "base": ([3, 3, 27, 3], [128, 256, 512, 1024]),
    "large": ([3, 3, 27, 3], [192, 384, 768, 1536]),
    "xlarge": ([3, 3, 27, 3], [256, 512, 1024, 2048]),
    "huge": ([3, 3, 27, 3], [352, 704, 1408, 2816]),
}


class GRN(nn.Module):
    """Global Response Normalisation (ConvNeXt V2): ``gamma * (x * nx) + beta + x`` with nx the per-channel
    spatial L2 norm divided by its mean over channels."""

    def __init__(self, in_channels: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.in_channels, self.eps = in_channels, eps
        self.gamma = nn.Parameter(torch.zeros(in_channels))
        self.beta = nn.Parameter(torch.zeros(in_channels))

    def forward(self, x: torch.Tensor, data_format: str = "channel_first") -> torch.Tensor:
        """x: (N, C, H, W), or (N, H, W, C) with ``data_format='channel_last'``; same shape out."""
        if data_format == "channel_last":
            gx = torch.norm(x, p=2, dim=(1, 2), keepdim=True)
            nx = gx / (gx.mean(dim=-1, keepdim=True) + self.eps)
            return self.gamma * (x * nx) + self.beta + x
        gx = torch.norm(x, p=2, dim=(2, 3), keepdim=True)
        nx = gx / (gx.mean(dim=1, keepdim=True) + self.eps)
        return self.gamma.view(1, -1, 1, 1) * (x * nx) + self.beta.view(1, -1, 1, 1) + x


class ConvNeXtBlock(nn.Module):
    """7x7 depth-wise conv, LayerNorm, pointwise MLP (Linear on channel-last maps, or 1x1 convs), layer scale
    ``gamma`` and stochastic depth around a residual: (N, C, H, W) -> (N, C, H, W)."""

    def __init__(self, in_channels: int, dw_conv_cfg: dict | None = None, norm_cfg: dict = _LN2D,
                 act_cfg: dict = dict(type="GELU"), mlp_ratio: float = 4.0,  # noqa: B006 - never mutated
                 linear_pw_conv: bool = True, drop_path_rate: float = 0.0, layer_scale_init_value: float = 1e-6,
                 use_grn: bool = False, with_cp: bool = False) -> None:
        super().__init__()
        self.with_cp, self.linear_pw_conv = with_cp, linear_pw_conv
        self.depthwise_conv = nn.Conv2d(in_channels, in_channels, groups=in_channels,
                                        **(dw_conv_cfg or dict(kernel_size=7, padding=3)))
        self.norm = build_norm_layer(norm_cfg, in_channels)[1]
        mid = int(mlp_ratio * in_channels)
        if linear_pw_conv:
            self.pointwise_conv1: nn.Module = nn.Linear(in_channels, mid)
            self.pointwise_conv2: nn.Module = nn.Linear(mid, in_channels)
        else:
            self.pointwise_conv1 = nn.Conv2d(in_channels, mid, 1)
            self.pointwise_conv2 = nn.Conv2d(mid, in_channels, 1)
        self.act = build_activation_layer(act_cfg)
        self.grn = GRN(mid) if use_grn else None
        self.gamma = (nn.Parameter(layer_scale_init_value * torch.ones(in_channels))
                      if layer_scale_init_value > 0 else None)
        self.drop_path = DropPath(drop_path_rate) if drop_path_rate > 0 else nn.Identity()

    def _inner(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x
        x = self.depthwise_conv(x)
        if self.linear_pw_conv:
            x = x.permute(0, 2, 3, 1)  # (N, H, W, C): the pointwise convs are Linear layers
            # LN2d is told the layout; a plain LayerNorm already normalises the last dim
            x = self.norm(x, data_format="channel_last") if isinstance(self.norm, LayerNorm2d) else self.norm(x)
            x = self.act(self.pointwise_conv1(x))
            if self.grn is not None:
                x = self.grn(x, data_format="channel_last")
            x = self.pointwise_conv2(x).permute(0, 3, 1, 2)
        else:
            x = self.act(self.pointwise_conv1(self.norm(x)))
            if self.grn is not None:
                x = self.grn(x)
            x = self.pointwise_conv2(x)
        if self.gamma is not None:
            x = x.mul(self.gamma.view(1, -1, 1, 1))
        return shortcut + self.drop_path(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) -> (N, C, H, W)."""
        if self.with_cp and x.requires_grad:
            return cp.checkpoint(self._inner, x, use_reentrant=False)
        return self._inner(x)


@MODELS.register_module()
class ConvNeXt(nn.Module):
    """ConvNeXt v1/v2 backbone with mmpretrain's arguments; ``arch`` is a name of ``arch_settings`` or
    ``dict(depths=[...], channels=[...])``.

    Outputs the stages of ``out_indices`` after their ``norm<i>``: maps (N, C_i, H/4/2^i, W/4/2^i), or with
    ``gap_before_final_norm=True`` (mmpretrain's default, for classification) globally pooled vectors
    (N, C_i). MMSeg's configs set ``gap_before_final_norm=False`` and ``layer_scale_init_value=1.0``.
    """

    arch_settings = {name: {"depths": d, "channels": c} for name, (d, c) in _ARCHS.items()}

    def __init__(
        self,
        arch: str | dict = "tiny",
        in_channels: int = 3,
        stem_patch_size: int = 4,
        norm_cfg: dict = _LN2D,
        act_cfg: dict = dict(type="GELU"),  # noqa: B006 - never mutated
        linear_pw_conv: bool = True,
        use_grn: bool = False,
        drop_path_rate: float = 0.0,
        layer_scale_init_value: float = 1e-6,
        out_indices: int | Sequence[int] = -1,
        frozen_stages: int = 0,
        gap_before_final_norm: bool = True,
        with_cp: bool = False,
        init_cfg: dict | list | None = None,
        pretrained: str | None = None,
    ) -> None:
        super().__init__()
        arch = resolve_arch("ConvNeXt", arch, self.arch_settings, ("depths", "channels"))
        self.depths, self.channels = list(arch["depths"]), list(arch["channels"])
        if len(self.depths) != len(self.channels):
            raise ConfigError(f"ConvNeXt: depths {self.depths} and channels {self.channels} differ in length")
        self.num_stages = len(self.depths)
        indices = [out_indices] if isinstance(out_indices, int) else list(out_indices)
        indices = [i + self.num_stages if i < 0 else i for i in indices]
        if any(not 0 <= i < self.num_stages for i in indices):
            raise ConfigError(f"ConvNeXt: out_indices {out_indices} out of range for {self.num_stages} stages")
        self.out_indices = indices
        self.frozen_stages, self.gap_before_final_norm = frozen_stages, gap_before_final_norm
        # ``pretrained`` is seglab's shorthand for a Pretrained init_cfg (mmpretrain has only init_cfg)
        self.init_cfg = resolve_init_cfg(pretrained, init_cfg, "ConvNeXt")

        # stochastic depth grows with depth (float32 steps as mmpretrain; on the CPU even under a meta default)
        dpr = torch.linspace(0, drop_path_rate, sum(self.depths), device="cpu").tolist()
        self.downsample_layers = nn.ModuleList([nn.Sequential(
            nn.Conv2d(in_channels, self.channels[0], kernel_size=stem_patch_size, stride=stem_patch_size),
            build_norm_layer(norm_cfg, self.channels[0])[1])])
        self.stages = nn.ModuleList()
        block = 0
        for i, (depth, channels) in enumerate(zip(self.depths, self.channels)):
            if i >= 1:
                self.downsample_layers.append(nn.Sequential(
                    build_norm_layer(norm_cfg, self.channels[i - 1])[1],
                    nn.Conv2d(self.channels[i - 1], channels, kernel_size=2, stride=2)))
            self.stages.append(nn.Sequential(*[
                ConvNeXtBlock(channels, norm_cfg=norm_cfg, act_cfg=act_cfg, linear_pw_conv=linear_pw_conv,
                              drop_path_rate=dpr[block + j], layer_scale_init_value=layer_scale_init_value,
                              use_grn=use_grn, with_cp=with_cp) for j in range(depth)]))
            block += depth
            if i in self.out_indices:
                self.add_module(f"norm{i}", build_norm_layer(norm_cfg, channels)[1])
        self.out_channels = [self.channels[i] for i in self.out_indices]
        self.out_strides = [stem_patch_size * 2**i for i in self.out_indices]
        self._default_init()
        self._freeze_stages()

    @torch.no_grad()
    def _default_init(self) -> None:
        """mmpretrain's default ``init_cfg``: trunc-normal(0.02) Conv2d/Linear weights, zero biases."""
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def init_weights(self) -> bool:
        """Load the Pretrained ``init_cfg`` (e.g. ``prefix='backbone.'``); True when weights were loaded."""
        return load_pretrained(self, self.init_cfg)

    def _freeze_stages(self) -> None:
        for i in range(self.frozen_stages):
            for module in (self.downsample_layers[i], self.stages[i]):
                module.eval()
                for param in module.parameters():
                    param.requires_grad = False

    def train(self, mode: bool = True) -> ConvNeXt:
        """Set the mode; frozen stages stay in eval mode."""
        super().train(mode)
        self._freeze_stages()
        return self

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """x: (N, C, H, W) -> one output per ``out_indices`` entry (maps, or pooled vectors with gap)."""
        outs = []
        for i, stage in enumerate(self.stages):
            x = stage(self.downsample_layers[i](x))
            if i in self.out_indices:
                norm = getattr(self, f"norm{i}")
                outs.append(norm(x.mean((-2, -1), keepdim=True)).flatten(1) if self.gap_before_final_norm
                            else norm(x))
        return tuple(outs)
