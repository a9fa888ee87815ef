"""PIDHead, the decode head of PIDNet ("PIDNet: A Real-time Semantic Segmentation Network Inspired by
PID Controllers", https://arxiv.org/abs/2206.02066).

In training it reads PIDNet's (P, fused, D) maps and gives three logits; ``loss_decode`` must be
the four losses of MMSeg's configs, in order: P-branch CE (``loss_sem_p``), fused-map OHEM CE
(``loss_sem_i``), BoundaryLoss on the D logits against ``gt_edge_map`` (``loss_bd``), and fused-map
OHEM CE restricted to confident boundary pixels (``loss_sem_bd``). Keys: ``i_head``, ``p_head``,
``d_head`` (``conv``/``norm``), ``conv_seg``, ``p_cls_seg``, ``d_cls_seg``.
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

__all__ = ["PIDHead"]

_RELU = dict(type="ReLU", inplace=True)


class BasePIDHead(nn.Module):
    """Pre-activation 3x3 conv, norm, activation, then an optional classifier."""

    def __init__(self, in_channels: int, channels: int, norm_cfg: dict | None = dict(type="BN"),  # noqa: B006
                 act_cfg: dict | None = _RELU) -> None:
        super().__init__()
        self.conv = ConvModule(in_channels, channels, 3, padding=1, norm_cfg=norm_cfg, act_cfg=act_cfg,
                               order=("norm", "act", "conv"))
        _, self.norm = build_norm_layer(norm_cfg, channels)
        self.act = build_activation_layer(act_cfg)

    def forward(self, x: torch.Tensor, cls_seg: nn.Module | None) -> torch.Tensor:
        x = self.act(self.norm(self.conv(x)))
        return cls_seg(x) if cls_seg is not None else x


@MODELS.register_module()
class PIDHead(BaseDecodeHead):
    """Eval: fused map (N, in_channels, h, w) -> logits (N, out_channels, h, w). Train: (P, fused, D)
    maps -> (P logits, fused logits, D boundary logits (N, 1, h, w)). Other arguments: BaseDecodeHead's."""

    def __init__(self, in_channels: int, channels: int, num_classes: int,
                 norm_cfg: dict | None = dict(type="BN"), act_cfg: dict | None = _RELU,  # noqa: B006
                 **kwargs) -> None:
        super().__init__(in_channels, channels, num_classes=num_classes, norm_cfg=norm_cfg, act_cfg=act_cfg,
                         **kwargs)
        self.i_head = BasePIDHead(in_channels, channels, norm_cfg, act_cfg)
        self.p_head = BasePIDHead(in_channels // 2, channels, norm_cfg, act_cfg)
        self.d_head = BasePIDHead(in_channels // 2, in_channels // 4, norm_cfg)
        self.p_cls_seg = nn.Conv2d(channels, self.out_channels, kernel_size=1)
        self.d_cls_seg = nn.Conv2d(in_channels // 4, 1, kernel_size=1)
        # MMSeg's PIDHead init: Kaiming for every conv (the classifiers included), unit BN.
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, inputs: torch.Tensor | Sequence[torch.Tensor]) -> torch.Tensor | tuple[torch.Tensor, ...]:
        """Logits of the fused map (eval), or (P, fused, D) logits (train)."""
        if self.training:
            if isinstance(inputs, torch.Tensor) or len(inputs) != 3:
                raise ValueError("PIDHead in training needs the backbone's (P, fused, D) maps (PIDNet in train mode)")
            x_p, x_i, x_d = inputs
            return (self.p_head(x_p, self.p_cls_seg), self.i_head(x_i, self.cls_seg),
                    self.d_head(x_d, self.d_cls_seg))
        if not isinstance(inputs, torch.Tensor):
            inputs = inputs[1] if len(inputs) == 3 else inputs[-1]
        return self.i_head(inputs, self.cls_seg)

    def _stack_batch_gt(self, batch_data_samples: list[SegDataSample]) -> tuple[torch.Tensor, torch.Tensor]:
        missing = [i for i, s in enumerate(batch_data_samples) if getattr(s, "gt_edge_map", None) is None]
        if missing:
            raise ValueError(f"PIDHead needs gt_edge_map in every training sample (missing in {missing}); add "
                             "dict(type='GenerateEdge', edge_width=4) to the train pipeline before PackSegInputs")
        sem = torch.stack([s.gt_sem_seg.data for s in batch_data_samples], dim=0)
        edge = torch.stack([s.gt_edge_map.data for s in batch_data_samples], dim=0)
        return sem, edge

    def loss_by_feat(self, seg_logits: Sequence[torch.Tensor],
                     batch_data_samples: list[SegDataSample]) -> dict[str, torch.Tensor]:
        """The four PIDNet losses and the fused map's pixel accuracy."""
        losses_fns = self.losses_iter()
        if len(losses_fns) != 4:
            raise ConfigError(f"PIDHead needs 4 losses in loss_decode (P CE, fused OHEM CE, BoundaryLoss, "
                              f"boundary OHEM CE), got {len(losses_fns)}")
        p_logit, i_logit, d_logit = seg_logits
        sem_label, bd_label = self._stack_batch_gt(batch_data_samples)
        p_logit, i_logit, d_logit = (resize(t, size=sem_label.shape[2:], mode="bilinear",
                                            align_corners=self.align_corners) for t in (p_logit, i_logit, d_logit))
        sem_label, bd_label = sem_label.squeeze(1), bd_label.squeeze(1)
        # Only the fused map's semantic loss on confident boundary pixels; the rest is ignored.
        filler = torch.full_like(sem_label, self.ignore_index)
        sem_bd_label = torch.where(torch.sigmoid(d_logit[:, 0]) > 0.8, sem_label, filler)
        return {
            "loss_sem_p": losses_fns[0](p_logit, sem_label, ignore_index=self.ignore_index),
            "loss_sem_i": losses_fns[1](i_logit, sem_label),
            "loss_bd": losses_fns[2](d_logit, bd_label),
            "loss_sem_bd": losses_fns[3](i_logit, sem_bd_label),
            "acc_seg": accuracy(i_logit, sem_label, ignore_index=self.ignore_index),
        }
