"""DPTHead from "Vision Transformers for Dense Prediction" (https://arxiv.org/abs/2103.13413).

Keys: ``reassemble_blocks.{projects.<i>.conv, resize_layers.<i>, readout_projects.<i>.0}``,
``convs.<i>.conv`` (no bias), ``fusion_blocks.<i>.{project.conv, res_conv_unit1/2.conv1/2.{conv,bn}}``
(``fusion_blocks.0`` has no ``res_conv_unit1``), ``project.{conv,bn}``, ``conv_seg``.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ...registry import MODELS, ConfigError
from ..layers import ConvModule, build_activation_layer, resize
from .decode_head import BaseDecodeHead

__all__ = ["DPTHead", "FeatureFusionBlock", "PreActResidualConvUnit", "ReassembleBlocks"]


class ReassembleBlocks(nn.Module):
    """Turn four ViT token maps (with their cls tokens) into a 4x / 2x / 1x / 0.5x pyramid.

    ``inputs``: four ``[map (N, in_channels, h, w), cls (N, in_channels)]`` (plain maps with 'ignore') -> maps (N, out_channels[i], ...)
    at scales 4, 2, 1, 1/2 (rounded as the convs do). ``readout_type`` handles the cls token: 'ignore',
    'add' (added to every token) or 'project' (concatenated and projected by Linear + GELU).
    """

    def __init__(self, in_channels: int = 768, out_channels: Sequence[int] = (96, 192, 384, 768),
                 readout_type: str = "ignore", patch_size: int = 16, init_cfg: dict | None = None) -> None:
        super().__init__()
        if readout_type not in ("ignore", "add", "project"):
            raise ConfigError(f"DPTHead: readout_type must be 'ignore', 'add' or 'project', got {readout_type!r}")
        if len(out_channels) != 4:
            raise ConfigError(f"DPTHead: post_process_channels needs 4 entries (scales 4, 2, 1, 1/2), "
                              f"got {list(out_channels)}")
        self.readout_type, self.patch_size, self.init_cfg = readout_type, patch_size, init_cfg
        self.projects = nn.ModuleList([ConvModule(in_channels, c, kernel_size=1, act_cfg=None) for c in out_channels])
        self.resize_layers = nn.ModuleList([
            nn.ConvTranspose2d(out_channels[0], out_channels[0], kernel_size=4, stride=4, padding=0),
            nn.ConvTranspose2d(out_channels[1], out_channels[1], kernel_size=2, stride=2, padding=0),
            nn.Identity(),
            nn.Conv2d(out_channels[3], out_channels[3], kernel_size=3, stride=2, padding=1),
        ])
        if readout_type == "project":
            self.readout_projects = nn.ModuleList([
                nn.Sequential(nn.Linear(2 * in_channels, in_channels), build_activation_layer(dict(type="GELU")))
                for _ in range(len(self.projects))])

    def forward(self, inputs: Sequence[Sequence[torch.Tensor]]) -> list[torch.Tensor]:
        """Four ``[map, cls]`` pairs (or maps with 'ignore') -> four maps at scales 4, 2, 1, 1/2."""
        out = []
        for i, item in enumerate(inputs):
            if isinstance(item, torch.Tensor) and self.readout_type == "ignore":
                x, cls_token = item, None  # the cls token would be ignored anyway
            elif isinstance(item, (list, tuple)) and len(item) == 2:
                x, cls_token = item
            else:
                raise ValueError(f"DPTHead: readout_type={self.readout_type!r} needs [map, cls_token] inputs; "
                                 "build the ViT backbone with output_cls_token=True")
            shape = x.shape
            if self.readout_type == "project":
                tokens = x.flatten(2).transpose(1, 2)
                readout = cls_token.unsqueeze(1).expand_as(tokens)
                x = self.readout_projects[i](torch.cat((tokens, readout), -1)).transpose(1, 2).reshape(shape)
            elif self.readout_type == "add":
                x = (x.flatten(2) + cls_token.unsqueeze(-1)).reshape(shape)
            out.append(self.resize_layers[i](self.projects[i](x)))
        return out


class PreActResidualConvUnit(nn.Module):
    """``x + conv2(conv1(x))`` with act-conv-norm ordered 3x3 ConvModules (no conv bias); (N, C, h, w) -> same."""

    def __init__(self, in_channels: int, act_cfg: dict, norm_cfg: dict | None, stride: int = 1, dilation: int = 1,
                 init_cfg: dict | None = None) -> None:
        super().__init__()
        self.init_cfg = init_cfg
        self.conv1 = ConvModule(in_channels, in_channels, 3, stride=stride, padding=dilation, dilation=dilation,
                                norm_cfg=norm_cfg, act_cfg=act_cfg, bias=False, order=("act", "conv", "norm"))
        self.conv2 = ConvModule(in_channels, in_channels, 3, padding=1, norm_cfg=norm_cfg, act_cfg=act_cfg,
                                bias=False, order=("act", "conv", "norm"))

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        """(N, C, h, w) -> (N, C, h, w)."""
        identity = inputs.clone()  # the leading activation may run in place on ``inputs``
        return self.conv2(self.conv1(inputs)) + identity


class FeatureFusionBlock(nn.Module):
    """Fuse the running map with a skip map (resized to it), refine, upsample 2x, 1x1 project.

    ``forward(x)`` or ``forward(x, skip)``: (N, C, h, w) -> (N, out_channels, 2h, 2w); ``expand`` halves C.
    """

    def __init__(self, in_channels: int, act_cfg: dict, norm_cfg: dict | None, expand: bool = False,
                 align_corners: bool = True, init_cfg: dict | None = None) -> None:
        super().__init__()
        self.in_channels, self.expand, self.align_corners, self.init_cfg = in_channels, expand, align_corners, init_cfg
        self.out_channels = in_channels // 2 if expand else in_channels
        self.project = ConvModule(in_channels, self.out_channels, kernel_size=1, act_cfg=None, bias=True)
        self.res_conv_unit1: PreActResidualConvUnit | None = PreActResidualConvUnit(in_channels, act_cfg, norm_cfg)
        self.res_conv_unit2 = PreActResidualConvUnit(in_channels, act_cfg, norm_cfg)

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        """``(x)`` or ``(x, skip)`` -> (N, out_channels, 2h, 2w)."""
        x = inputs[0]
        if len(inputs) == 2:
            if self.res_conv_unit1 is None:
                raise ValueError("FeatureFusionBlock without res_conv_unit1 takes no skip input")
            skip = inputs[1]
            if x.shape != skip.shape:
                skip = resize(skip, size=(x.shape[2], x.shape[3]), mode="bilinear", align_corners=False)
            x = x + self.res_conv_unit1(skip)
        x = self.res_conv_unit2(x)
        x = resize(x, scale_factor=2, mode="bilinear", align_corners=self.align_corners)
        return self.project(x)


@MODELS.register_module()
class DPTHead(BaseDecodeHead):
    """Reassemble four ViT layers into a pyramid, 3x3 conv each to ``channels``, fuse from coarse to fine.

    ``inputs``: four ``[map, cls_token]`` pairs (ViT ``output_cls_token=True``, ``input_transform=
    'multiple_select'``) -> logits (N, num_classes, 8h, 8w) for (h, w) token maps. ``act_cfg``/``norm_cfg``
    configure the fusion blocks and the final projection (the base head gets neither, as in MMSeg).
    """

    def __init__(
        self,
        embed_dims: int = 768,
        post_process_channels: Sequence[int] = (96, 192, 384, 768),
        readout_type: str = "ignore",
        patch_size: int = 16,
        expand_channels: bool = False,
        act_cfg: dict = dict(type="ReLU"),  # noqa: B006 - never mutated
        norm_cfg: dict | None = dict(type="BN"),  # noqa: B006 - never mutated
        **kwargs,
    ) -> None:
        if expand_channels:
            # MMSeg doubles the conv inputs per level but the reassemble blocks still give the plain
            # channels, so the model cannot run; refuse instead of failing at the first forward.
            raise ConfigError("DPTHead: expand_channels=True is not supported (MMSeg's reassemble blocks do not "
                              "produce the expanded channels); set expand_channels=False")
        super().__init__(**kwargs)
        self.expand_channels = expand_channels
        self.reassemble_blocks = ReassembleBlocks(embed_dims, post_process_channels, readout_type, patch_size)
        self.post_process_channels = list(post_process_channels)
        self.convs = nn.ModuleList([ConvModule(c, self.channels, kernel_size=3, padding=1, act_cfg=None, bias=False)
                                    for c in self.post_process_channels])
        self.fusion_blocks = nn.ModuleList([FeatureFusionBlock(self.channels, act_cfg, norm_cfg)
                                            for _ in range(len(self.convs))])
        self.fusion_blocks[0].res_conv_unit1 = None
        self.project = ConvModule(self.channels, self.channels, kernel_size=3, padding=1, norm_cfg=norm_cfg)
        self.num_fusion_blocks = len(self.fusion_blocks)
        self.num_reassemble_blocks = len(self.reassemble_blocks.resize_layers)
        self.num_post_process_channels = len(self.post_process_channels)

    def forward(self, inputs: Sequence) -> torch.Tensor:
        """Logits (N, out_channels, 8h, 8w) from four ``[map (N, embed_dims, h, w), cls (N, embed_dims)]``."""
        x = self._transform_inputs(inputs)
        if len(x) != self.num_reassemble_blocks:
            raise ValueError(f"DPTHead: expected {self.num_reassemble_blocks} inputs, got {len(x)}")
        feats = [conv(f) for conv, f in zip(self.convs, self.reassemble_blocks(x))]
        out = self.fusion_blocks[0](feats[-1])
        for i in range(1, self.num_fusion_blocks):
            out = self.fusion_blocks[i](out, feats[-(i + 1)])
        return self.cls_seg(self.project(out))
