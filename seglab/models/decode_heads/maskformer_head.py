"""MaskFormer head (MMSeg 1.2.2's ``MaskFormerHead`` on mmdet 3.3.0's): a pixel decoder, a DETR
transformer decoder over the last feature level, and per-query class + mask predictions.

Paper: Per-Pixel Classification is Not All You Need for Semantic Segmentation,
https://arxiv.org/abs/2107.06278
Key layout: ``pixel_decoder.*``, ``transformer_decoder.layers.{i}.{self_attn,cross_attn,ffn,norms}``,
``transformer_decoder.post_norm``, ``decoder_input_proj`` (a 1x1 conv only for a plain PixelDecoder whose
last input width differs from the decoder's), ``query_embed``, ``cls_embed``, ``mask_embed.{0,2,4}``.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from ...registry import MODELS
from ...structures import SegDataSample
from ..mask_classification._init import caffe2_xavier_init
from ..mask_classification._registry import PIXEL_DECODERS, build_mmdet
from ..mask_classification.head_base import MaskClassificationHead, reduce_mean
from ..mask_classification.pixel_decoders import PixelDecoder
from ..mask_classification.positional_encoding import build_positional_encoding
from ..mask_classification.transformer_layers import DetrTransformerDecoder

__all__ = ["MaskFormerHead"]

_LOSS_CLS = dict(type="CrossEntropyLoss", use_sigmoid=False, loss_weight=1.0, class_weight=None)
_LOSS_MASK = dict(type="FocalLoss", use_sigmoid=True, gamma=2.0, alpha=0.25, loss_weight=20.0)
_LOSS_DICE = dict(type="DiceLoss", use_sigmoid=True, activate=True, naive_dice=True, loss_weight=1.0)


@MODELS.register_module()
class MaskFormerHead(MaskClassificationHead):
    """MaskFormer: ``num_queries`` learned queries decode the last level's memory; every decoder layer
    predicts classes (N, Q, num_classes + 1) and masks (N, Q, h0, w0) = mask_embed(q) . mask_feature.

    Training matches queries to ground-truth class masks (Hungarian: class + focal + dice costs on masks
    at the prediction's size) and applies CE (no-object weight in ``loss_cls.class_weight``), sigmoid
    focal and Dice losses on full-resolution masks, for every decoder layer.
    """

    def __init__(
        self,
        num_classes: int = 150,
        align_corners: bool = False,
        ignore_index: int = 255,
        *,
        in_channels: Sequence[int],
        feat_channels: int,
        out_channels: int,
        num_queries: int = 100,
        pixel_decoder: dict | nn.Module,
        enforce_decoder_input_project: bool = False,
        transformer_decoder: dict,
        positional_encoding: dict | None = None,
        loss_cls: dict = _LOSS_CLS,
        loss_mask: dict = _LOSS_MASK,
        loss_dice: dict = _LOSS_DICE,
        train_cfg: dict | None = None,
        test_cfg: dict | None = None,
        in_index: Sequence[int] | None = None,
        num_things_classes: int | None = None,
        num_stuff_classes: int | None = None,
        init_cfg: dict | list | None = None,
    ) -> None:
        super().__init__(num_classes=num_classes, in_channels=in_channels, feat_channels=feat_channels,
                         out_channels=out_channels, num_queries=num_queries, loss_cls=loss_cls, loss_mask=loss_mask,
                         loss_dice=loss_dice, train_cfg=train_cfg, test_cfg=test_cfg, align_corners=align_corners,
                         ignore_index=ignore_index, in_index=in_index, num_things_classes=num_things_classes,
                         num_stuff_classes=num_stuff_classes, init_cfg=init_cfg)
        if isinstance(pixel_decoder, dict):
            pixel_decoder = dict(pixel_decoder, in_channels=list(in_channels), feat_channels=feat_channels,
                                 out_channels=out_channels)
        self.pixel_decoder = build_mmdet(pixel_decoder, PIXEL_DECODERS)
        self.transformer_decoder = DetrTransformerDecoder(**transformer_decoder)
        self.decoder_embed_dims = self.transformer_decoder.embed_dims
        # Only a plain PixelDecoder hands over the raw last backbone level as memory.
        if type(self.pixel_decoder) is PixelDecoder and (
                self.decoder_embed_dims != in_channels[-1] or enforce_decoder_input_project):
            self.decoder_input_proj: nn.Module = nn.Conv2d(in_channels[-1], self.decoder_embed_dims, kernel_size=1)
        else:
            self.decoder_input_proj = nn.Identity()
        self.decoder_pe = build_positional_encoding(positional_encoding)
        self.query_embed = nn.Embedding(num_queries, out_channels)
        self.cls_embed = nn.Linear(feat_channels, num_classes + 1)
        self.mask_embed = nn.Sequential(
            nn.Linear(feat_channels, feat_channels), nn.ReLU(inplace=True),
            nn.Linear(feat_channels, feat_channels), nn.ReLU(inplace=True),
            nn.Linear(feat_channels, out_channels))
        self.init_weights()

    def init_weights(self) -> None:
        """mmdet's init: caffe2-xavier input projection, the pixel decoder's own, xavier-uniform decoder."""
        if isinstance(self.decoder_input_proj, nn.Conv2d):
            caffe2_xavier_init(self.decoder_input_proj)
        if hasattr(self.pixel_decoder, "init_weights"):
            self.pixel_decoder.init_weights()
        for p in self.transformer_decoder.parameters():
            if p.dim() > 1:
                nn.init.xavier_uniform_(p)

    def forward(self, inputs: Sequence[torch.Tensor], batch_data_samples: list[SegDataSample] | None = None
                ) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """inputs: backbone levels (N, C_i, h_i, w_i) -> per decoder layer (N, Q, K + 1) and (N, Q, h0, w0).

        MMSeg sets ``batch_input_shape = img_shape`` for this head, so no pixel counts as padding.
        """
        feats = self._select(inputs)
        batch = feats[0].shape[0]
        mask_features, memory = self.pixel_decoder(feats)
        no_padding = memory.new_zeros((batch, *memory.shape[-2:]), dtype=torch.bool)
        pos = self.decoder_pe(no_padding).flatten(2).transpose(1, 2)
        memory = self.decoder_input_proj(memory).flatten(2).transpose(1, 2)
        query_pos = self.query_embed.weight.unsqueeze(0).expand(batch, -1, -1)
        out = self.transformer_decoder(query=torch.zeros_like(query_pos), key=memory, value=memory,
                                       query_pos=query_pos, key_pos=pos, key_padding_mask=no_padding.flatten(1))
        cls_scores = self.cls_embed(out)
        mask_preds = torch.einsum("lbqc,bchw->lbqhw", self.mask_embed(out), mask_features)
        return list(cls_scores.unbind(0)), list(mask_preds.unbind(0))

    def _predict_size(self, batch_img_metas: list[dict]) -> Sequence[int]:
        return batch_img_metas[0]["img_shape"]  # MMSeg's MaskFormer resizes to img_shape (batch_input_shape)

    def _loss_single(self, cls_scores: torch.Tensor, mask_preds: torch.Tensor, gts: list[dict],
                     metas: list[dict]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One decoder layer: cls (N, Q, K + 1), masks (N, Q, h, w) -> (loss_cls, loss_mask, loss_dice)."""
        labels, targets, weights, avg_factor = [], [], [], 0
        for cls_score, mask_pred, gt, meta in zip(cls_scores, mask_preds, gts, metas):
            gt_masks = gt["masks"]
            if gt_masks.shape[0] > 0:  # match at the prediction's resolution
                small = F.interpolate(gt_masks[:, None].float(), mask_pred.shape[-2:], mode="nearest")[:, 0].long()
            else:
                small = gt_masks
            assign = self.assigner.assign(dict(scores=cls_score, masks=mask_pred),
                                          dict(labels=gt["labels"], masks=small), meta)
            sampled = self.sampler.sample(assign)
            label, target, weight = self._targets(sampled, gt, cls_score.device)
            labels.append(label)
            targets.append(target)
            weights.append(weight)
            avg_factor += sampled.avg_factor
        loss_cls = self._class_loss(cls_scores, torch.stack(labels))
        num_masks = max(float(reduce_mean(cls_scores.new_tensor([avg_factor]))), 1.0)
        mask_preds = mask_preds[torch.stack(weights) > 0]
        mask_targets = torch.cat(targets)
        if mask_targets.shape[0] == 0:
            return loss_cls, mask_preds.sum(), mask_preds.sum()
        mask_preds = F.interpolate(mask_preds[:, None], mask_targets.shape[-2:], mode="bilinear",
                                   align_corners=False)[:, 0]
        loss_dice = self.loss_dice(mask_preds, mask_targets, avg_factor=num_masks)
        h, w = mask_preds.shape[-2:]
        # mmdet's focal loss takes class labels: 0 = mask (the one foreground class), 1 = background.
        loss_mask = self.loss_mask(mask_preds.reshape(-1, 1), 1 - mask_targets.reshape(-1),
                                   avg_factor=num_masks * h * w)
        return loss_cls, loss_mask, loss_dice
