"""DAHead from "Dual Attention Network for Scene Segmentation" (https://arxiv.org/abs/1809.02983)."""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ...registry import MODELS
from ...structures import SegDataSample
from ..layers import ConvModule, Scale, SelfAttentionBlock
from .decode_head import BaseDecodeHead

__all__ = ["CAM", "PAM", "DAHead"]


class PAM(SelfAttentionBlock):
    """Position attention: x + gamma * self-attention over positions (bare 1x1 projections, no out conv)."""

    def __init__(self, in_channels: int, channels: int) -> None:
        super().__init__(
            key_in_channels=in_channels, query_in_channels=in_channels, channels=channels, out_channels=in_channels,
            share_key_query=False, query_downsample=None, key_downsample=None, key_query_num_convs=1,
            value_out_num_convs=1, key_query_norm=False, value_out_norm=False, matmul_norm=False, with_out=False,
            conv_cfg=None, norm_cfg=None, act_cfg=None,
        )
        self.gamma = Scale(0.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        """x: (N, C, H, W) -> (N, C, H, W)."""
        return self.gamma(super().forward(x, x)) + x


class CAM(nn.Module):
    """Channel attention: x + gamma * (channel affinity @ x), affinity = softmax(max - x x^T)."""

    def __init__(self) -> None:
        super().__init__()
        self.gamma = Scale(0.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (N, C, H, W) -> (N, C, H, W)."""
        n, c, h, w = x.shape
        flat = x.reshape(n, c, -1)
        energy = torch.bmm(flat, flat.transpose(1, 2))  # (N, C, C)
        # DANet subtracts from the row max: channels least similar get the largest weight.
        attention = F.softmax(energy.max(dim=-1, keepdim=True)[0] - energy, dim=-1)
        out = torch.bmm(attention, flat).reshape(n, c, h, w)
        return self.gamma(out) + x


@MODELS.register_module()
class DAHead(BaseDecodeHead):
    """Position (PAM) and channel (CAM) attention branches, each with its own classifier, plus their sum.

    ``forward`` returns ``(pam_cam, pam, cam)`` logits; training adds one loss set per output with
    prefixes ``pam_cam.``, ``pam.``, ``cam.``; ``predict`` uses ``pam_cam``.

    Args:
        pam_channels: key/query channels of the position attention.
        Other arguments are those of :class:`BaseDecodeHead`.
    """

    def __init__(self, pam_channels: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.pam_channels = pam_channels
        conv_kw = dict(padding=1, conv_cfg=self.conv_cfg, norm_cfg=self.norm_cfg, act_cfg=self.act_cfg)
        self.pam_in_conv = ConvModule(self.in_channels, self.channels, 3, **conv_kw)
        self.pam = PAM(self.channels, pam_channels)
        self.pam_out_conv = ConvModule(self.channels, self.channels, 3, **conv_kw)
        self.pam_conv_seg = nn.Conv2d(self.channels, self.num_classes, kernel_size=1)
        self.cam_in_conv = ConvModule(self.in_channels, self.channels, 3, **conv_kw)
        self.cam = CAM()
        self.cam_out_conv = ConvModule(self.channels, self.channels, 3, **conv_kw)
        self.cam_conv_seg = nn.Conv2d(self.channels, self.num_classes, kernel_size=1)

    def pam_cls_seg(self, feat: torch.Tensor) -> torch.Tensor:
        """Dropout then the PAM classifier."""
        return self.pam_conv_seg(self.dropout(feat) if self.dropout is not None else feat)

    def cam_cls_seg(self, feat: torch.Tensor) -> torch.Tensor:
        """Dropout then the CAM classifier."""
        return self.cam_conv_seg(self.dropout(feat) if self.dropout is not None else feat)

    def forward(self, inputs: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:  # type: ignore[override]
        """Logits ``(pam_cam, pam, cam)``, each (N, num_classes, h, w)."""
        x = self._transform_inputs(inputs)
        pam_feat = self.pam_out_conv(self.pam(self.pam_in_conv(x)))
        cam_feat = self.cam_out_conv(self.cam(self.cam_in_conv(x)))
        return self.cls_seg(pam_feat + cam_feat), self.pam_cls_seg(pam_feat), self.cam_cls_seg(cam_feat)

    def predict(self, inputs: Sequence[torch.Tensor], batch_img_metas: list[dict],
                test_cfg: dict | None = None) -> torch.Tensor:
        """Only the fused ``pam_cam`` logits, resized to the input: (N, C, H, W)."""
        return self.predict_by_feat(self.forward(inputs)[0], batch_img_metas)

    def loss_by_feat(self, seg_logits: Sequence[torch.Tensor],  # type: ignore[override]
                     batch_data_samples: list[SegDataSample]) -> dict[str, torch.Tensor]:
        """Losses of the three outputs, keyed ``pam_cam.loss_ce``, ``pam.acc_seg``, ..."""
        losses: dict[str, torch.Tensor] = {}
        for prefix, logits in zip(("pam_cam", "pam", "cam"), seg_logits, strict=True):
            for name, value in super().loss_by_feat(logits, batch_data_samples).items():
                losses[f"{prefix}.{name}"] = value
        return losses
