"""DDRHead, the decode head of DDRNet ("Deep Dual-resolution Networks for Real-time and Accurate
Semantic Segmentation of Road Scenes", https://arxiv.org/abs/2101.06085).

``loss_decode`` is two losses, in order: on the output map's logits (``loss_context``) and on the
auxiliary logits of the spatial map (``loss_spatial``). Keys: ``head``, ``aux_head`` (pre-activation
conv, norm, act), ``conv_seg``, ``aux_cls_seg``.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ...registry import MODELS, ConfigError
from ...structures import SegDataSample
from ..layers import ConvModule, build_activation_layer, build_norm_layer, resize
from ..losses.accuracy import accuracy
from .decode_head import BaseDecodeHead

__all__ = ["DDRHead"]


@MODELS.register_module()
class DDRHead(BaseDecodeHead):
    """Eval: (N, in_channels, h, w) -> logits (N, out_channels, h, w). Train: (spatial map with
    in_channels // 2 channels, output map) -> (logits, auxiliary logits). Other arguments: BaseDecodeHead's."""

    def __init__(self, in_channels: int, channels: int, num_classes: int,
                 norm_cfg: dict | None = dict(type="BN"),  # noqa: B006 - never mutated
                 act_cfg: dict | None = dict(type="ReLU", inplace=True),  # noqa: B006 - never mutated
                 **kwargs) -> None:
        super().__init__(in_channels, channels, num_classes=num_classes, norm_cfg=norm_cfg, act_cfg=act_cfg,
                         **kwargs)
        self.head = self._make_base_head(self.in_channels, self.channels)
        self.aux_head = self._make_base_head(self.in_channels // 2, self.channels)
        self.aux_cls_seg = nn.Conv2d(self.channels, self.out_channels, kernel_size=1)
        # MMSeg's DDRHead init: Kaiming for every conv (the classifiers included), unit BN.
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def _make_base_head(self, in_channels: int, channels: int) -> nn.Sequential:
        return nn.Sequential(
            ConvModule(in_channels, channels, 3, padding=1, norm_cfg=self.norm_cfg, act_cfg=self.act_cfg,
                       order=("norm", "act", "conv")),
            build_norm_layer(self.norm_cfg, channels)[1],
            build_activation_layer(self.act_cfg),
        )

    def forward(self, inputs: torch.Tensor | Sequence[torch.Tensor]) -> torch.Tensor | tuple[torch.Tensor, ...]:
        """Logits (eval), or (logits, auxiliary logits) (train)."""
        if self.training:
            if isinstance(inputs, torch.Tensor) or len(inputs) != 2:
                raise ValueError("DDRHead in training needs the backbone's (spatial, output) maps (DDRNet in train "
                                 "mode)")
            c3_feat, c5_feat = inputs
            return self.cls_seg(self.head(c5_feat)), self.aux_cls_seg(self.aux_head(c3_feat))
        if not isinstance(inputs, torch.Tensor):
            inputs = inputs[-1]
        return self.cls_seg(self.head(inputs))

    def loss_by_feat(self, seg_logits: Sequence[torch.Tensor],
                     batch_data_samples: list[SegDataSample]) -> dict[str, torch.Tensor]:
        """``loss_context``, ``loss_spatial`` and the output logits' pixel accuracy."""
        losses_fns = self.losses_iter()
        if len(losses_fns) != 2:
            raise ConfigError(f"DDRHead needs 2 losses in loss_decode (output map, spatial map), got "
                              f"{len(losses_fns)}")
        seg_label = self._stack_batch_gt(batch_data_samples)
        context_logit, spatial_logit = (resize(t, size=seg_label.shape[2:], mode="bilinear",
                                               align_corners=self.align_corners) for t in seg_logits)
        seg_label = seg_label.squeeze(1)
        return {
            "loss_context": losses_fns[0](context_logit, seg_label),
            "loss_spatial": losses_fns[1](spatial_logit, seg_label),
            "acc_seg": accuracy(context_logit, seg_label, ignore_index=self.ignore_index),
        }
