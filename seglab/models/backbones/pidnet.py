"""PIDNet from "PIDNet: A Real-time Semantic Segmentation Network Inspired by PID Controllers"
(https://arxiv.org/abs/2206.02066).

Three branches at stride 8: P (detail, proportional), I (context, integral; down to stride 64, then
PAPPM/DAPPM) and D (boundary, derivative), fused by Bag/LightBag. Keys (MMSeg's): ``stem``,
``i_branch_layers``, ``p_branch_layers``, ``d_branch_layers``, ``compression_<k>``, ``pag_<k>``,
``diff_<k>``, ``spp``, ``dfm``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ...registry import MODELS, ConfigError
from ..layers import DAPPM, PAPPM, ConvModule, build_activation_layer
from ..weight_init import kaiming_cnn_init, load_pretrained, resolve_init_cfg
from ._bilateral_blocks import BasicBlock, Bottleneck, make_res_layer

__all__ = ["PIDNet"]

_BN = dict(type="BN")
_RELU = dict(type="ReLU", inplace=True)


class PagFM(nn.Module):
    """Pixel-attention-guided fusion: the P map takes the upsampled I map where their projections agree.

    x_p: (N, C, H, W), x_i: (N, C, h, w) -> (N, C, H, W).
    """

    def __init__(self, in_channels: int, channels: int, after_relu: bool = False, with_channel: bool = False,
                 upsample_mode: str = "bilinear", norm_cfg: dict | None = _BN, act_cfg: dict | None = _RELU) -> None:
        super().__init__()
        self.after_relu, self.with_channel, self.upsample_mode = after_relu, with_channel, upsample_mode
        self.f_i = ConvModule(in_channels, channels, 1, norm_cfg=norm_cfg, act_cfg=None)
        self.f_p = ConvModule(in_channels, channels, 1, norm_cfg=norm_cfg, act_cfg=None)
        if with_channel:
            self.up = ConvModule(channels, in_channels, 1, norm_cfg=norm_cfg, act_cfg=None)
        if after_relu:
            self.relu = build_activation_layer(act_cfg)

    def forward(self, x_p: torch.Tensor, x_i: torch.Tensor) -> torch.Tensor:
        if self.after_relu:
            x_p, x_i = self.relu(x_p), self.relu(x_i)
        f_i = F.interpolate(self.f_i(x_i), size=x_p.shape[2:], mode=self.upsample_mode, align_corners=False)
        f_p = self.f_p(x_p)
        sim = self.up(f_p * f_i) if self.with_channel else torch.sum(f_p * f_i, dim=1, keepdim=True)
        sigma = torch.sigmoid(sim)
        x_i = F.interpolate(x_i, size=x_p.shape[2:], mode=self.upsample_mode, align_corners=False)
        return sigma * x_i + (1 - sigma) * x_p


class Bag(nn.Module):
    """Boundary-attention-guided fusion: the D map's sigmoid mixes P and I, then a pre-activation 3x3 conv."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, padding: int = 1,
                 norm_cfg: dict | None = _BN, act_cfg: dict | None = _RELU,
                 conv_cfg: dict = dict(order=("norm", "act", "conv"))) -> None:  # noqa: B006 - never mutated
        super().__init__()
        self.conv = ConvModule(in_channels, out_channels, kernel_size, padding=padding, norm_cfg=norm_cfg,
                               act_cfg=act_cfg, **conv_cfg)

    def forward(self, x_p: torch.Tensor, x_i: torch.Tensor, x_d: torch.Tensor) -> torch.Tensor:
        sigma = torch.sigmoid(x_d)
        return self.conv(sigma * x_p + (1 - sigma) * x_i)


class LightBag(nn.Module):
    """Light Bag (PIDNet-S): two 1x1 projections of the boundary-weighted mixes, summed."""

    def __init__(self, in_channels: int, out_channels: int, norm_cfg: dict | None = _BN,
                 act_cfg: dict | None = None) -> None:
        super().__init__()
        self.f_p = ConvModule(in_channels, out_channels, 1, norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.f_i = ConvModule(in_channels, out_channels, 1, norm_cfg=norm_cfg, act_cfg=act_cfg)

    def forward(self, x_p: torch.Tensor, x_i: torch.Tensor, x_d: torch.Tensor) -> torch.Tensor:
        sigma = torch.sigmoid(x_d)
        return self.f_p((1 - sigma) * x_i + x_p) + self.f_i(x_i + sigma * x_p)


@MODELS.register_module()
class PIDNet(nn.Module):
    """PIDNet-S/M/L (``channels`` 32/64/64, ``ppm_channels`` 96/96/112, ``num_stem_blocks`` 2/2/3,
    ``num_branch_blocks`` 3/3/4). ``num_stem_blocks == 2`` selects PAPPM + LightBag, otherwise DAPPM + Bag.

    Input (N, in_channels, H, W). Eval: the fused map (N, 4 * channels, H/8, W/8). Train: (P map after
    the first fusion (N, 2c, H/8, W/8), fused map, D map after the second fusion (N, c or 2c, H/8, W/8)),
    the three inputs PIDHead needs for its losses.
    """

    def __init__(
        self,
        in_channels: int = 3,
        channels: int = 64,
        ppm_channels: int = 96,
        num_stem_blocks: int = 2,
        num_branch_blocks: int = 3,
        align_corners: bool = False,
        norm_cfg: dict | None = _BN,
        act_cfg: dict | None = _RELU,
        pretrained: str | None = None,
        init_cfg: dict | list | None = None,
    ) -> None:
        super().__init__()
        if num_stem_blocks < 1 or num_branch_blocks < 1:
            raise ConfigError(f"PIDNet: num_stem_blocks ({num_stem_blocks}) and num_branch_blocks "
                              f"({num_branch_blocks}) must be >= 1")
        self.norm_cfg, self.act_cfg, self.align_corners = norm_cfg, act_cfg, align_corners
        self.init_cfg = resolve_init_cfg(pretrained, init_cfg, "PIDNet")
        self.pretrained = pretrained
        c = channels
        self.stem = self._make_stem_layer(in_channels, c, num_stem_blocks)
        self.relu = nn.ReLU()
        self.i_branch_layers = nn.ModuleList([
            self._make_layer(BasicBlock if i < 2 else Bottleneck, c * 2 ** (i + 1), c * 8 if i > 0 else c * 4,
                             num_branch_blocks if i < 2 else 2, stride=2)
            for i in range(3)])
        self.p_branch_layers = nn.ModuleList([
            self._make_layer(BasicBlock if i < 2 else Bottleneck, c * 2, c * 2, num_stem_blocks if i < 2 else 1)
            for i in range(3)])
        pre = dict(bias=False, norm_cfg=norm_cfg, act_cfg=None)
        self.compression_1 = ConvModule(c * 4, c * 2, 1, **pre)
        self.compression_2 = ConvModule(c * 8, c * 2, 1, **pre)
        self.pag_1 = PagFM(c * 2, c, norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.pag_2 = PagFM(c * 2, c, norm_cfg=norm_cfg, act_cfg=act_cfg)
        if num_stem_blocks == 2:
            self.d_branch_layers = nn.ModuleList([self._make_single_layer(BasicBlock, c * 2, c),
                                                  self._make_layer(Bottleneck, c, c, 1)])
            channel_expand = 1
            spp_module: type[DAPPM] = PAPPM
        else:
            self.d_branch_layers = nn.ModuleList([self._make_single_layer(BasicBlock, c * 2, c * 2),
                                                  self._make_single_layer(BasicBlock, c * 2, c * 2)])
            channel_expand = 2
            spp_module = DAPPM
        self.diff_1 = ConvModule(c * 4, c * channel_expand, 3, padding=1, **pre)
        self.diff_2 = ConvModule(c * 8, c * 2, 3, padding=1, **pre)
        self.spp = spp_module(c * 16, ppm_channels, c * 4, num_scales=5, norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.dfm: nn.Module = (LightBag(c * 4, c * 4, norm_cfg=norm_cfg, act_cfg=None) if num_stem_blocks == 2
                               else Bag(c * 4, c * 4, norm_cfg=norm_cfg, act_cfg=act_cfg))
        self.d_branch_layers.append(self._make_layer(Bottleneck, c * 2, c * 2, 1))
        self.out_channels, self.out_strides = [c * 4], [8]
        kaiming_cnn_init(self)

    def _downsample(self, in_channels: int, out_channels: int, stride: int) -> ConvModule | None:
        if stride == 1 and in_channels == out_channels:
            return None
        return ConvModule(in_channels, out_channels, 1, stride=stride, norm_cfg=self.norm_cfg, act_cfg=None)

    def _make_stem_layer(self, in_channels: int, channels: int, num_blocks: int) -> nn.Sequential:
        kw = dict(stride=2, padding=1, norm_cfg=self.norm_cfg, act_cfg=self.act_cfg)
        return nn.Sequential(
            ConvModule(in_channels, channels, 3, **kw),
            ConvModule(channels, channels, 3, **kw),
            self._make_layer(BasicBlock, channels, channels, num_blocks),
            nn.ReLU(),
            self._make_layer(BasicBlock, channels, channels * 2, num_blocks, stride=2),
            nn.ReLU(),
        )

    def _make_layer(self, block: type[BasicBlock] | type[Bottleneck], in_channels: int, channels: int,
                    num_blocks: int, stride: int = 1) -> nn.Sequential:
        downsample = self._downsample(in_channels, channels * block.expansion, stride)
        return make_res_layer(block, in_channels, channels, num_blocks, stride, self.norm_cfg, self.act_cfg,
                              downsample)

    def _make_single_layer(self, block: type[BasicBlock] | type[Bottleneck], in_channels: int, channels: int,
                           stride: int = 1) -> nn.Module:
        downsample = self._downsample(in_channels, channels * block.expansion, stride)
        return block(in_channels, channels, stride, downsample, norm_cfg=self.norm_cfg, act_cfg=self.act_cfg,
                     act_cfg_out=None)

    def init_weights(self) -> bool:
        """Load ``init_cfg`` Pretrained weights (the constructor did the default init); True when some were loaded."""
        return load_pretrained(self, self.init_cfg)

    def _up(self, x: torch.Tensor, size: torch.Size) -> torch.Tensor:
        return F.interpolate(x, size=size, mode="bilinear", align_corners=self.align_corners)

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """x: (N, C, H, W) -> fused map (eval) or (P, fused, D) maps (train); see the class docstring."""
        x = self.stem(x)
        # MMSeg resizes to (H // 8, W // 8); the stride-8 map's own size is the same for H, W divisible
        # by 8 and also works for other sizes.
        size = x.shape[2:]
        x_i = self.relu(self.i_branch_layers[0](x))
        x_p = self.pag_1(self.p_branch_layers[0](x), self.compression_1(x_i))
        x_d = self.d_branch_layers[0](x) + self._up(self.diff_1(x_i), size)
        temp_p = x_p

        x_i = self.relu(self.i_branch_layers[1](x_i))
        x_p = self.pag_2(self.p_branch_layers[1](self.relu(x_p)), self.compression_2(x_i))
        x_d = self.d_branch_layers[1](self.relu(x_d)) + self._up(self.diff_2(x_i), size)
        temp_d = x_d

        x_i = self._up(self.spp(self.i_branch_layers[2](x_i)), size)
        x_p = self.p_branch_layers[2](self.relu(x_p))
        x_d = self.d_branch_layers[2](self.relu(x_d))
        out = self.dfm(x_p, x_i, x_d)
        return (temp_p, out, temp_d) if self.training else out
