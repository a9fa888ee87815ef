"""CGNet from "CGNet: A Light-weight Context Guided Network for Semantic Segmentation"
(https://arxiv.org/abs/1811.08201).

A 3-conv stem (stride 2) and two stages of context guided blocks (strides 4 and 8); each stage's output
is concatenated with its first block's output (and a downsampled copy of the image) and normalised.
Keys (MMSeg's layout): ``stem.<i>.*``, ``norm_prelu_<i>.{0,1}``, ``level1.<i>.*``, ``level2.<i>.*`` with
``conv1x1``, ``f_loc``, ``f_sur``, ``bn``, ``activate``, ``bottleneck`` (downsampling blocks), ``f_glo.fc.{0,2}``.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.utils.checkpoint as cp
from torch import nn

from ...registry import MODELS, ConfigError
from ..layers import ConvModule, build_conv_layer, build_norm_layer
from ..weight_init import kaiming_cnn_init, load_pretrained, resolve_init_cfg

__all__ = ["CGNet"]

_BN = dict(type="BN", requires_grad=True)
_PRELU = dict(type="PReLU")


def _act(act_cfg: dict | None, channels: int) -> dict | None:
    """``act_cfg`` with PReLU's ``num_parameters`` set to ``channels`` (one slope per channel, as MMSeg sets it)."""
    if act_cfg is not None and act_cfg.get("type") == "PReLU":
        return {**act_cfg, "num_parameters": channels}
    return act_cfg


class GlobalContextExtractor(nn.Module):
    """Squeeze-and-excitation: channel gates from the global average through two linear layers."""

    def __init__(self, channel: int, reduction: int = 16, with_cp: bool = False) -> None:
        super().__init__()
        if not 1 <= reduction <= channel:
            raise ConfigError(f"CGNet: reduction {reduction} must be in [1, channels={channel}]")
        self.channel, self.reduction, self.with_cp = channel, reduction, with_cp
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Sequential(nn.Linear(channel, channel // reduction), nn.ReLU(inplace=True),
                                nn.Linear(channel // reduction, channel), nn.Sigmoid())

    def _inner_forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c = x.shape[:2]
        return x * self.fc(self.avg_pool(x).view(n, c)).view(n, c, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.with_cp and x.requires_grad:
            return cp.checkpoint(self._inner_forward, x, use_reentrant=False)
        return self._inner_forward(x)


class ContextGuidedBlock(nn.Module):
    """Local (3x3 depthwise) and surrounding (dilated 3x3 depthwise) features, joined, normalised and gated
    by the global context; residual unless the block downsamples (then a 3x3 stride-2 entry conv and a 1x1
    ``bottleneck`` to ``out_channels``)."""

    def __init__(self, in_channels: int, out_channels: int, dilation: int = 2, reduction: int = 16,
                 skip_connect: bool = True, downsample: bool = False, conv_cfg: dict | None = None,
                 norm_cfg: dict = _BN, act_cfg: dict | None = _PRELU, with_cp: bool = False) -> None:
        super().__init__()
        self.with_cp, self.downsample = with_cp, downsample
        channels = out_channels if downsample else out_channels // 2
        kernel_size, stride = (3, 2) if downsample else (1, 1)
        self.conv1x1 = ConvModule(in_channels, channels, kernel_size, stride, (kernel_size - 1) // 2,
                                  conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=_act(act_cfg, channels))
        self.f_loc = build_conv_layer(conv_cfg, channels, channels, kernel_size=3, padding=1, groups=channels,
                                      bias=False)
        self.f_sur = build_conv_layer(conv_cfg, channels, channels, kernel_size=3, padding=dilation, groups=channels,
                                      dilation=dilation, bias=False)
        self.bn = build_norm_layer(norm_cfg, 2 * channels)[1]
        self.activate = nn.PReLU(2 * channels)  # PReLU whatever act_cfg says (MMSeg's layer)
        if downsample:
            self.bottleneck = build_conv_layer(conv_cfg, 2 * channels, out_channels, kernel_size=1, bias=False)
        self.skip_connect = skip_connect and not downsample
        self.f_glo = GlobalContextExtractor(out_channels, reduction, with_cp)

    def _inner_forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv1x1(x)
        joint = self.activate(self.bn(torch.cat([self.f_loc(out), self.f_sur(out)], 1)))
        if self.downsample:
            joint = self.bottleneck(joint)
        out = self.f_glo(joint)
        return x + out if self.skip_connect else out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.with_cp and x.requires_grad:
            return cp.checkpoint(self._inner_forward, x, use_reentrant=False)
        return self._inner_forward(x)


class InputInjection(nn.Module):
    """``num_downsampling`` 3x3 stride-2 average pools of the image."""

    def __init__(self, num_downsampling: int) -> None:
        super().__init__()
        self.pool = nn.ModuleList([nn.AvgPool2d(3, stride=2, padding=1) for _ in range(num_downsampling)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for pool in self.pool:
            x = pool(x)
        return x


@MODELS.register_module()
class CGNet(nn.Module):
    """Stem + two context-guided stages: (N, C, H, W) -> three maps at strides 2, 4, 8 with
    ``num_channels[0] + in_channels``, ``2 * num_channels[1] + in_channels`` and ``2 * num_channels[2]`` channels.

    ``num_blocks``, ``dilations`` and ``reductions`` give each stage's block count, surrounding-context
    dilation and context-gate reduction.
    """

    def __init__(
        self,
        in_channels: int = 3,
        num_channels: Sequence[int] = (32, 64, 128),
        num_blocks: Sequence[int] = (3, 21),
        dilations: Sequence[int] = (2, 4),
        reductions: Sequence[int] = (8, 16),
        conv_cfg: dict | None = None,
        norm_cfg: dict = _BN,
        act_cfg: dict | None = _PRELU,
        norm_eval: bool = False,
        with_cp: bool = False,
        pretrained: str | None = None,
        init_cfg: dict | list | None = None,
    ) -> None:
        super().__init__()
        for name, value, n in (("num_channels", num_channels, 3), ("num_blocks", num_blocks, 2),
                               ("dilations", dilations, 2), ("reductions", reductions, 2)):
            if len(value) != n:
                raise ConfigError(f"CGNet: {name} needs {n} entries, got {tuple(value)}")
        if norm_cfg is None:
            raise ConfigError("CGNet: norm_cfg must be a norm config (its joint-feature and stage norms always "
                              "exist), e.g. dict(type='BN', requires_grad=True)")
        if min(num_blocks) < 1:
            raise ConfigError(f"CGNet: every stage needs at least one block, got num_blocks={tuple(num_blocks)}")
        self.init_cfg = resolve_init_cfg(pretrained, init_cfg, "CGNet")
        self.in_channels, self.num_channels = in_channels, tuple(num_channels)
        self.num_blocks, self.dilations, self.reductions = tuple(num_blocks), tuple(dilations), tuple(reductions)
        self.norm_eval, self.with_cp = norm_eval, with_cp
        self.stem = nn.ModuleList([
            ConvModule(in_channels if i == 0 else num_channels[0], num_channels[0], 3, 2 if i == 0 else 1, padding=1,
                       conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=_act(act_cfg, num_channels[0]))
            for i in range(3)])
        self.inject_2x = InputInjection(1)
        self.inject_4x = InputInjection(2)
        channels = num_channels[0] + in_channels
        self.norm_prelu_0 = nn.Sequential(build_norm_layer(norm_cfg, channels)[1], nn.PReLU(channels))
        self.level1 = self._stage(channels, num_channels[1], num_blocks[0], dilations[0], reductions[0],
                                  conv_cfg, norm_cfg, act_cfg)
        channels = 2 * num_channels[1] + in_channels
        self.norm_prelu_1 = nn.Sequential(build_norm_layer(norm_cfg, channels)[1], nn.PReLU(channels))
        self.level2 = self._stage(channels, num_channels[2], num_blocks[1], dilations[1], reductions[1],
                                  conv_cfg, norm_cfg, act_cfg)
        channels = 2 * num_channels[2]
        self.norm_prelu_2 = nn.Sequential(build_norm_layer(norm_cfg, channels)[1], nn.PReLU(channels))
        self.out_channels = [num_channels[0] + in_channels, 2 * num_channels[1] + in_channels, 2 * num_channels[2]]
        self.out_strides = [2, 4, 8]
        self._default_init()

    def _stage(self, in_channels: int, out_channels: int, num_blocks: int, dilation: int, reduction: int,
               conv_cfg: dict | None, norm_cfg: dict | None, act_cfg: dict | None) -> nn.ModuleList:
        return nn.ModuleList([
            ContextGuidedBlock(in_channels if i == 0 else out_channels, out_channels, dilation, reduction,
                               downsample=i == 0, conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=act_cfg,
                               with_cp=self.with_cp)
            for i in range(num_blocks)])

    @torch.no_grad()
    def _default_init(self) -> None:
        """MMSeg's CGNet init: Kaiming (fan_out) convs and linears with zero bias, norms 1/0, PReLU slopes 0."""
        kaiming_cnn_init(self)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.PReLU):
                nn.init.zeros_(m.weight)

    def init_weights(self) -> bool:
        """Load ``init_cfg`` Pretrained weights (the constructor did the default init); True when some were loaded."""
        return load_pretrained(self, self.init_cfg)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """x: (N, C, H, W) -> [(N, c0, H/2, W/2), (N, c1, H/4, W/4), (N, c2, H/8, W/8)]."""
        inp_2x, inp_4x = self.inject_2x(x), self.inject_4x(x)
        for layer in self.stem:
            x = layer(x)
        x = self.norm_prelu_0(torch.cat([x, inp_2x], 1))
        outs = [x]
        down1 = x = self.level1[0](x)
        for layer in self.level1[1:]:
            x = layer(x)
        x = self.norm_prelu_1(torch.cat([x, down1, inp_4x], 1))
        outs.append(x)
        down2 = x = self.level2[0](x)
        for layer in self.level2[1:]:
            x = layer(x)
        outs.append(self.norm_prelu_2(torch.cat([down2, x], 1)))
        return outs

    def train(self, mode: bool = True) -> CGNet:
        """Set train mode but keep every BN layer in eval mode when ``norm_eval``."""
        super().train(mode)
        if mode and self.norm_eval:
            for m in self.modules():
                if isinstance(m, nn.modules.batchnorm._BatchNorm):
                    m.eval()
        return self
