"""EncHead from "Context Encoding for Semantic Segmentation" (https://arxiv.org/abs/1803.08904)."""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ...registry import MODELS
from ...structures import SegDataSample
from ..layers import ConvModule, Encoding, build_norm_layer, resize
from .decode_head import BaseDecodeHead

__all__ = ["EncHead", "EncModule"]


def _norm_1d(norm_cfg: dict | None, num_features: int) -> nn.Module:
    """The 1-D twin of a 2-D ``norm_cfg`` (BN -> BN1d ...), for the (N, K, C) codeword encodings."""
    if norm_cfg is None:
        return nn.BatchNorm1d(num_features)
    cfg = dict(norm_cfg)
    if cfg["type"] in ("BN", "IN"):
        cfg["type"] += "1d"
    elif isinstance(cfg["type"], str):
        cfg["type"] = cfg["type"].replace("2d", "1d")
    layer = build_norm_layer(cfg, num_features)[1]
    if type(layer) is nn.BatchNorm2d:  # single-process SyncBN falls back to BatchNorm2d: use the 1-D one
        twin = nn.BatchNorm1d(num_features, eps=layer.eps, momentum=layer.momentum, affine=layer.affine,
                              track_running_stats=layer.track_running_stats)
        for p in twin.parameters():
            p.requires_grad = all(q.requires_grad for q in layer.parameters())
        layer = twin
    return layer


class EncModule(nn.Module):
    """Encode features against ``num_codes`` codewords; the mean encoding gates channels (x + x * gamma).

    Returns ``(encoding (N, C), gated features (N, C, H, W))``.
    """

    def __init__(self, in_channels: int, num_codes: int, conv_cfg: dict | None, norm_cfg: dict | None,
                 act_cfg: dict | None) -> None:
        super().__init__()
        self.encoding_project = ConvModule(in_channels, in_channels, 1, conv_cfg=conv_cfg, norm_cfg=norm_cfg,
                                           act_cfg=act_cfg)
        self.encoding = nn.Sequential(Encoding(channels=in_channels, num_codes=num_codes),
                                      _norm_1d(norm_cfg, num_codes), nn.ReLU(inplace=True))
        self.fc = nn.Sequential(nn.Linear(in_channels, in_channels), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        encoding = self.encoding(self.encoding_project(x)).mean(dim=1)  # (N, C)
        gamma = self.fc(encoding).reshape(*x.shape[:2], 1, 1)
        return encoding, F.relu(x + x * gamma)


@MODELS.register_module()
class EncHead(BaseDecodeHead):
    """3x3 bottleneck on the last input (optionally fused with lateral inputs), then an EncModule.

    With ``use_se_loss`` the forward returns ``(logits, se_logits (N, num_classes))`` and training adds
    ``loss_se``: ``loss_se_decode`` (sigmoid CE) of se_logits against which classes occur in each image.

    Args:
        num_codes: codewords of the Encoding layer.
        use_se_loss: add the semantic-encoding loss and its ``se_layer`` classifier.
        add_lateral: fuse the other inputs through 1x1 ``lateral_convs`` and a 3x3 ``fusion`` conv.
        loss_se_decode: config (or module) of the SE loss.
        Other arguments are those of :class:`BaseDecodeHead` (``input_transform='multiple_select'`` implied).
    """

    def __init__(self, num_codes: int = 32, use_se_loss: bool = True, add_lateral: bool = False,
                 loss_se_decode: dict | nn.Module = dict(  # noqa: B006 - MMSeg's default, never mutated
                     type="CrossEntropyLoss", use_sigmoid=True, loss_weight=0.2),
                 **kwargs) -> None:
        super().__init__(input_transform="multiple_select", **kwargs)
        self.use_se_loss, self.add_lateral, self.num_codes = use_se_loss, add_lateral, num_codes
        layer_cfg = dict(conv_cfg=self.conv_cfg, norm_cfg=self.norm_cfg, act_cfg=self.act_cfg)
        self.bottleneck = ConvModule(self.in_channels[-1], self.channels, 3, padding=1, **layer_cfg)
        if add_lateral:
            self.lateral_convs = nn.ModuleList(
                [ConvModule(c, self.channels, 1, **layer_cfg) for c in self.in_channels[:-1]])
            self.fusion = ConvModule(len(self.in_channels) * self.channels, self.channels, 3, padding=1,
                                     **layer_cfg)
        self.enc_module = EncModule(self.channels, num_codes=num_codes, **layer_cfg)
        if use_se_loss:
            self.loss_se_decode = MODELS.build(loss_se_decode)
            self.se_layer = nn.Linear(self.channels, self.num_classes)

    def forward(self, inputs: Sequence[torch.Tensor]) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Logits (N, out_channels, h, w), plus se_logits (N, num_classes) when ``use_se_loss``."""
        feats = self._transform_inputs(inputs)
        feat = self.bottleneck(feats[-1])
        if self.add_lateral:
            laterals = [resize(conv(feats[i]), size=feat.shape[2:], mode="bilinear", align_corners=self.align_corners)
                        for i, conv in enumerate(self.lateral_convs)]
            feat = self.fusion(torch.cat([feat, *laterals], dim=1))
        encoding, out = self.enc_module(feat)
        out = self.cls_seg(out)
        if self.use_se_loss:
            return out, self.se_layer(encoding)
        return out

    def predict(self, inputs: Sequence[torch.Tensor], batch_img_metas: list[dict],
                test_cfg: dict | None = None) -> torch.Tensor:
        """Segmentation logits only, resized to the input: (N, C, H, W)."""
        out = self.forward(inputs)
        return self.predict_by_feat(out[0] if self.use_se_loss else out, batch_img_metas)

    @staticmethod
    def _convert_to_onehot_labels(seg_label: torch.Tensor, num_classes: int) -> torch.Tensor:
        """(N, ...) label maps -> (N, num_classes) 0/1 presence of each class (ignored values skipped)."""
        onehot = seg_label.new_zeros((seg_label.size(0), num_classes))
        for i, label in enumerate(seg_label):
            valid = label[(label >= 0) & (label < num_classes)].long()
            onehot[i, valid.unique()] = 1
        return onehot

    def loss_by_feat(self, seg_logits: torch.Tensor | tuple[torch.Tensor, torch.Tensor],  # type: ignore[override]
                     batch_data_samples: list[SegDataSample]) -> dict[str, torch.Tensor]:
        """Segmentation losses plus ``loss_se`` when ``use_se_loss``."""
        if not self.use_se_loss:
            return super().loss_by_feat(seg_logits, batch_data_samples)
        seg_logit, se_logit = seg_logits
        losses = super().loss_by_feat(seg_logit, batch_data_samples)
        seg_label = self._stack_batch_gt(batch_data_samples)
        losses["loss_se"] = self.loss_se_decode(se_logit, self._convert_to_onehot_labels(seg_label, self.num_classes))
        return losses
