"""LRASPPHead, the Lite R-ASPP head of "Searching for MobileNetV3" (https://arxiv.org/abs/1905.02244).

Keys (MMSeg's): ``aspp_conv``, ``image_pool.1``, ``conv_up_input``, ``convs.conv<i>``, ``conv_ups.conv_up<i>``.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ...registry import MODELS, ConfigError
from ..layers import ConvModule, resize
from .decode_head import BaseDecodeHead

__all__ = ["LRASPPHead"]


@MODELS.register_module()
class LRASPPHead(BaseDecodeHead):
    """The deepest map gated by a pooled sigmoid branch, then refined with each shallower map, deepest first.

    Needs ``input_transform='multiple_select'`` and ``len(branch_channels) == len(in_channels) - 1``
    (one 1x1 projection per shallow map). The pooled branch is a 49x49 average pool with stride
    (16, 20), as in MMSeg (it expects 512x1024-like inputs at stride 8, i.e. maps of at least 49x49).
    Inputs: list of (N, in_channels[i], h_i, w_i) -> logits at the first map's size.
    """

    def __init__(self, branch_channels: Sequence[int] = (32, 64), **kwargs) -> None:
        super().__init__(**kwargs)
        if self.input_transform != "multiple_select":
            raise ConfigError(f"LRASPPHead: input_transform must be 'multiple_select', got {self.input_transform!r}")
        branch_channels = tuple(branch_channels)
        if not all(isinstance(c, int) for c in branch_channels) or len(branch_channels) != len(self.in_channels) - 1:
            raise ConfigError(f"LRASPPHead: branch_channels {branch_channels} needs one int per shallow input "
                              f"({len(self.in_channels) - 1} for in_channels {self.in_channels})")
        self.branch_channels = branch_channels
        self.convs = nn.Sequential()
        self.conv_ups = nn.Sequential()
        for i, channels in enumerate(branch_channels):
            self.convs.add_module(f"conv{i}", nn.Conv2d(self.in_channels[i], channels, 1, bias=False))
            self.conv_ups.add_module(f"conv_up{i}", ConvModule(
                self.channels + channels, self.channels, 1, norm_cfg=self.norm_cfg, act_cfg=self.act_cfg, bias=False))
        self.conv_up_input = nn.Conv2d(self.channels, self.channels, 1)
        self.aspp_conv = ConvModule(self.in_channels[-1], self.channels, 1, norm_cfg=self.norm_cfg,
                                    act_cfg=self.act_cfg, bias=False)
        # MMSeg reads in_channels[2] here; that is the deepest map for its 3-input configs.
        self.image_pool = nn.Sequential(
            nn.AvgPool2d(kernel_size=49, stride=(16, 20)),
            ConvModule(self.in_channels[-1], self.channels, 1, act_cfg=dict(type="Sigmoid"), bias=False),
        )

    def forward(self, inputs: Sequence[torch.Tensor]) -> torch.Tensor:
        """Logits (N, out_channels, h_0, w_0)."""
        feats = self._transform_inputs(inputs)
        x = feats[-1]
        if min(x.shape[2:]) < 49:
            raise ValueError(f"LRASPPHead: its 49x49 image pool needs the deepest map to be at least 49x49, got "
                             f"{tuple(x.shape[2:])}; use larger inputs (e.g. >= 392 px at stride 8)")
        gate = resize(self.image_pool(x), size=x.shape[2:], mode="bilinear", align_corners=self.align_corners)
        x = self.conv_up_input(self.aspp_conv(x) * gate)
        for i in range(len(self.branch_channels) - 1, -1, -1):
            x = resize(x, size=feats[i].shape[2:], mode="bilinear", align_corners=self.align_corners)
            x = self.conv_ups[i](torch.cat([x, self.convs[i](feats[i])], dim=1))
        return self.cls_seg(x)
