"""DDRNet from "Deep Dual-resolution Networks for Real-time and Accurate Semantic Segmentation of Road
Scenes" (https://arxiv.org/abs/2101.06085).

A high-resolution spatial branch (stride 8) and a low-resolution context branch (down to stride 64,
then DAPPM) exchange features twice (bilateral fusion). Keys (MMSeg's): ``stem``,
``context_branch_layers``, ``spatial_branch_layers``, ``compression_<k>``, ``down_<k>``, ``spp``.
"""
from __future__ import annotations

import torch
from torch import nn

from ...registry import MODELS
from ..layers import DAPPM, ConvModule, build_norm_layer, resize
from ..weight_init import kaiming_cnn_init, load_pretrained, resolve_init_cfg
from ._bilateral_blocks import BasicBlock, Bottleneck, make_res_layer

__all__ = ["DDRNet"]


@MODELS.register_module()
class DDRNet(nn.Module):
    """DDRNet-23-slim (``channels=32``) / DDRNet-23 (``channels=64``).

    Input (N, in_channels, H, W). Eval: (N, 4 * channels, H/8, W/8). Train: (spatial map after the
    first fusion (N, 2 * channels, H/8, W/8), output map), the two inputs DDRHead needs.
    """

    def __init__(
        self,
        in_channels: int = 3,
        channels: int = 32,
        ppm_channels: int = 128,
        align_corners: bool = False,
        norm_cfg: dict | None = dict(type="BN", requires_grad=True),  # noqa: B006 - never mutated
        act_cfg: dict | None = dict(type="ReLU", inplace=True),  # noqa: B006 - never mutated
        pretrained: str | None = None,
        init_cfg: dict | list | None = None,
    ) -> None:
        super().__init__()
        self.in_channels, self.ppm_channels = in_channels, ppm_channels
        self.norm_cfg, self.act_cfg, self.align_corners = norm_cfg, act_cfg, align_corners
        self.init_cfg = resolve_init_cfg(pretrained, init_cfg, "DDRNet")
        self.pretrained = pretrained
        c = channels
        self.stem = self._make_stem_layer(in_channels, c, num_blocks=2)
        self.relu = nn.ReLU()
        self.context_branch_layers = nn.ModuleList([
            self._make_layer(BasicBlock if i < 2 else Bottleneck, c * 2 ** (i + 1), c * 8 if i > 0 else c * 4,
                             2 if i < 2 else 1, stride=2)
            for i in range(3)])
        lin = dict(norm_cfg=norm_cfg, act_cfg=None)
        self.compression_1 = ConvModule(c * 4, c * 2, 1, **lin)
        self.down_1 = ConvModule(c * 2, c * 4, 3, stride=2, padding=1, **lin)
        self.compression_2 = ConvModule(c * 8, c * 2, 1, **lin)
        self.down_2 = nn.Sequential(
            ConvModule(c * 2, c * 4, 3, stride=2, padding=1, norm_cfg=norm_cfg, act_cfg=act_cfg),
            ConvModule(c * 4, c * 8, 3, stride=2, padding=1, **lin))
        self.spatial_branch_layers = nn.ModuleList([
            self._make_layer(BasicBlock if i < 2 else Bottleneck, c * 2, c * 2, 2 if i < 2 else 1)
            for i in range(3)])
        self.spp = DAPPM(c * 16, ppm_channels, c * 4, num_scales=5, norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.out_channels, self.out_strides = [c * 4], [8]
        kaiming_cnn_init(self)

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

    def _make_layer(self, block: type[BasicBlock] | type[Bottleneck], inplanes: int, planes: int, num_blocks: int,
                    stride: int = 1) -> nn.Sequential:
        downsample = None
        if stride != 1 or inplanes != planes * block.expansion:
            # A plain conv + norm pair here (keys downsample.0/downsample.1), unlike PIDNet's ConvModule.
            downsample = nn.Sequential(
                nn.Conv2d(inplanes, planes * block.expansion, kernel_size=1, stride=stride, bias=False),
                build_norm_layer(self.norm_cfg, planes * block.expansion)[1])
        return make_res_layer(block, inplanes, planes, num_blocks, stride, self.norm_cfg, self.act_cfg, downsample)

    def init_weights(self) -> bool:
        """Load ``init_cfg`` Pretrained weights (the constructor did the default init); True when some were loaded."""
        return load_pretrained(self, self.init_cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """x: (N, C, H, W) -> output map (eval) or (spatial map, output map) (train)."""
        x = self.stem(x)
        # MMSeg resizes to (H // 8, W // 8): the stride-8 map's own size, for H, W divisible by 8.
        size = x.shape[2:]
        x_c = self.context_branch_layers[0](x)
        x_s = self.spatial_branch_layers[0](x)
        comp_c = self.compression_1(self.relu(x_c))
        x_c = x_c + self.down_1(self.relu(x_s))
        x_s = x_s + resize(comp_c, size=size, mode="bilinear", align_corners=self.align_corners)
        temp_context = x_s

        x_c = self.context_branch_layers[1](self.relu(x_c))
        x_s = self.spatial_branch_layers[1](self.relu(x_s))
        comp_c = self.compression_2(self.relu(x_c))
        x_c = x_c + self.down_2(self.relu(x_s))
        x_s = x_s + resize(comp_c, size=size, mode="bilinear", align_corners=self.align_corners)

        x_s = self.spatial_branch_layers[2](self.relu(x_s))
        x_c = self.spp(self.context_branch_layers[2](self.relu(x_c)))
        out = x_s + resize(x_c, size=size, mode="bilinear", align_corners=self.align_corners)
        return (temp_context, out) if self.training else out
