"""Mask2Former head (MMSeg 1.2.2's ``Mask2FormerHead`` on mmdet 3.3.0's): a multi-scale deformable
attention pixel decoder and a transformer decoder whose cross-attention is masked by the previous
layer's mask prediction, cycling over the feature levels.

Paper: Masked-attention Mask Transformer for Universal Image Segmentation, https://arxiv.org/abs/2112.01527
Key layout: ``pixel_decoder.*``, ``transformer_decoder.layers.{i}.{self_attn,cross_attn,ffn,norms}``,
``transformer_decoder.post_norm``, ``decoder_input_projs.{l}`` (1x1 convs only when widths differ or
forced), ``query_embed``, ``query_feat``, ``level_embed``, ``cls_embed``, ``mask_embed.{0,2,4}``.
"""
from __future__ import annotations

import warnings
from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from ...registry import MODELS, ConfigError
from ...structures import SegDataSample
from ..layers.point_sample import get_uncertain_point_coords_with_randomness, point_sample
from ..mask_classification._init import caffe2_xavier_init
from ..mask_classification._registry import PIXEL_DECODERS, build_mmdet
from ..mask_classification.head_base import MaskClassificationHead, reduce_mean
from ..mask_classification.positional_encoding import build_positional_encoding
from ..mask_classification.transformer_layers import Mask2FormerTransformerDecoder

__all__ = ["Mask2FormerHead"]

_LOSS_CLS = dict(type="CrossEntropyLoss", use_sigmoid=False, loss_weight=2.0, reduction="mean", class_weight=None)
_LOSS_MASK = dict(type="CrossEntropyLoss", use_sigmoid=True, reduction="mean", loss_weight=5.0)
_LOSS_DICE = dict(type="DiceLoss", use_sigmoid=True, activate=True, reduction="mean", naive_dice=True, eps=1.0,
                  loss_weight=5.0)


@MODELS.register_module()
class Mask2FormerHead(MaskClassificationHead):
    """Mask2Former: queries attend, layer by layer, to one of ``num_transformer_feat_level`` pixel-decoder
    levels, only where the previous layer's mask is >= 0.5 (a query whose mask is empty attends everywhere).

    Outputs ``num_layers + 1`` predictions (one before the first layer). Training: Hungarian matching on
    ``train_cfg.num_points`` random points, then CE class loss and sigmoid-CE + Dice mask losses on
    uncertainty-sampled points (``oversample_ratio``, ``importance_sample_ratio``), for every prediction.
    """

    def __init__(
        self,
        num_classes: int,
        align_corners: bool = False,
        ignore_index: int = 255,
        *,
        in_channels: Sequence[int],
        feat_channels: int,
        out_channels: int,
        num_queries: int = 100,
        num_transformer_feat_level: int = 3,
        pixel_decoder: dict | nn.Module,
        enforce_decoder_input_project: bool = False,
        transformer_decoder: dict,
        positional_encoding: dict | None = None,
        loss_cls: dict = _LOSS_CLS,
        loss_mask: dict = _LOSS_MASK,
        loss_dice: dict = _LOSS_DICE,
        train_cfg: dict | None = None,
        test_cfg: dict | None = None,
        strides: Sequence[int] | None = None,
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
        self.num_transformer_feat_level = num_transformer_feat_level
        self.num_heads = transformer_decoder["layer_cfg"]["cross_attn_cfg"]["num_heads"]
        self.num_transformer_decoder_layers = transformer_decoder["num_layers"]
        if isinstance(pixel_decoder, dict):
            levels = pixel_decoder.get("encoder", {}).get("layer_cfg", {}).get("self_attn_cfg", {}).get("num_levels")
            if levels is not None and levels != num_transformer_feat_level:
                raise ConfigError(f"Mask2FormerHead: pixel_decoder encoder num_levels ({levels}) must equal "
                                  f"num_transformer_feat_level ({num_transformer_feat_level})")
            pixel_decoder = dict(pixel_decoder, in_channels=list(in_channels), feat_channels=feat_channels,
                                 out_channels=out_channels)
            if strides is not None:
                if str(pixel_decoder.get("type", "")).endswith("MSDeformAttnPixelDecoder"):
                    pixel_decoder.setdefault("strides", list(strides))
                else:
                    warnings.warn("Mask2FormerHead: strides only reach an MSDeformAttnPixelDecoder; ignored for "
                                  f"{pixel_decoder.get('type')}", stacklevel=2)
        self.pixel_decoder = build_mmdet(pixel_decoder, PIXEL_DECODERS)
        self.transformer_decoder = Mask2FormerTransformerDecoder(**transformer_decoder)
        self.decoder_embed_dims = self.transformer_decoder.embed_dims
        self.decoder_input_projs = nn.ModuleList([
            nn.Conv2d(feat_channels, self.decoder_embed_dims, kernel_size=1)
            if self.decoder_embed_dims != feat_channels or enforce_decoder_input_project else nn.Identity()
            for _ in range(num_transformer_feat_level)])
        self.decoder_positional_encoding = build_positional_encoding(positional_encoding)
        self.query_embed = nn.Embedding(num_queries, feat_channels)
        self.query_feat = nn.Embedding(num_queries, feat_channels)
        self.level_embed = nn.Embedding(num_transformer_feat_level, feat_channels)
        self.cls_embed = nn.Linear(feat_channels, num_classes + 1)
        self.mask_embed = nn.Sequential(
            nn.Linear(feat_channels, feat_channels), nn.ReLU(inplace=True),
            nn.Linear(feat_channels, feat_channels), nn.ReLU(inplace=True),
            nn.Linear(feat_channels, out_channels))
        self.num_points = int(self.train_cfg.get("num_points", 12544))
        self.oversample_ratio = float(self.train_cfg.get("oversample_ratio", 3.0))
        self.importance_sample_ratio = float(self.train_cfg.get("importance_sample_ratio", 0.75))
        self.init_weights()

    def init_weights(self) -> None:
        """mmdet's init: caffe2-xavier input projections, the pixel decoder's own, xavier-normal decoder."""
        for m in self.decoder_input_projs:
            if isinstance(m, nn.Conv2d):
                caffe2_xavier_init(m)
        if hasattr(self.pixel_decoder, "init_weights"):
            self.pixel_decoder.init_weights()
        for p in self.transformer_decoder.parameters():
            if p.dim() > 1:
                nn.init.xavier_normal_(p)

    def _forward_head(self, queries: torch.Tensor, mask_features: torch.Tensor,
                      attn_size: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """queries (N, Q, C) -> cls (N, Q, K + 1), masks (N, Q, h0, w0), and the next cross-attention mask
        (N * heads, Q, h*w) at ``attn_size``: True (blocked) where the mask probability is below 0.5."""
        queries = self.transformer_decoder.post_norm(queries)
        cls_pred = self.cls_embed(queries)
        mask_pred = torch.einsum("bqc,bchw->bqhw", self.mask_embed(queries), mask_features)
        attn_mask = F.interpolate(mask_pred, tuple(attn_size), mode="bilinear", align_corners=False)
        attn_mask = attn_mask.flatten(2).unsqueeze(1).expand(-1, self.num_heads, -1, -1).flatten(0, 1)
        return cls_pred, mask_pred, (attn_mask.sigmoid() < 0.5).detach()

    def forward(self, inputs: Sequence[torch.Tensor], batch_data_samples: list[SegDataSample] | None = None
                ) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """inputs: backbone levels (N, C_i, h_i, w_i) -> per prediction (N, Q, K + 1) and (N, Q, h0, w0)."""
        feats = self._select(inputs)
        batch = feats[0].shape[0]
        mask_features, memories = self.pixel_decoder(feats)
        keys, key_pos = [], []
        for i in range(self.num_transformer_feat_level):
            key = self.decoder_input_projs[i](memories[i]).flatten(2).transpose(1, 2)
            keys.append(key + self.level_embed.weight[i].view(1, 1, -1))
            no_padding = key.new_zeros((batch, *memories[i].shape[-2:]), dtype=torch.bool)
            key_pos.append(self.decoder_positional_encoding(no_padding).flatten(2).transpose(1, 2))
        query = self.query_feat.weight.unsqueeze(0).expand(batch, -1, -1)
        query_pos = self.query_embed.weight.unsqueeze(0).expand(batch, -1, -1)

        cls_pred, mask_pred, attn_mask = self._forward_head(query, mask_features, memories[0].shape[-2:])
        cls_list, mask_list = [cls_pred], [mask_pred]
        for i in range(self.num_transformer_decoder_layers):
            level = i % self.num_transformer_feat_level
            # A query whose mask blocks every key would get NaN attention: let it attend everywhere.
            attn_mask = attn_mask & (attn_mask.sum(-1) != attn_mask.shape[-1]).unsqueeze(-1)
            query = self.transformer_decoder.layers[i](query=query, key=keys[level], value=keys[level],
                                                       query_pos=query_pos, key_pos=key_pos[level],
                                                       cross_attn_mask=attn_mask)
            next_size = memories[(i + 1) % self.num_transformer_feat_level].shape[-2:]
            cls_pred, mask_pred, attn_mask = self._forward_head(query, mask_features, next_size)
            cls_list.append(cls_pred)
            mask_list.append(mask_pred)
        return cls_list, mask_list

    def _loss_single(self, cls_scores: torch.Tensor, mask_preds: torch.Tensor, gts: list[dict],
                     metas: list[dict]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One prediction: cls (N, Q, K + 1), masks (N, Q, h, w) -> (loss_cls, loss_mask, loss_dice)."""
        labels, targets, weights, avg_factor = [], [], [], 0
        for cls_score, mask_pred, gt, meta in zip(cls_scores, mask_preds, gts, metas):
            # Match on the same random points for predictions and ground truths.
            coords = torch.rand((1, self.num_points, 2), device=cls_score.device)
            pred_points = point_sample(mask_pred[:, None], coords.expand(mask_pred.shape[0], -1, -1))[:, 0]
            gt_points = point_sample(gt["masks"][:, None].float(), coords.expand(gt["masks"].shape[0], -1, -1))[:, 0]
            assign = self.assigner.assign(dict(scores=cls_score, masks=pred_points),
                                          dict(labels=gt["labels"], masks=gt_points), meta)
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
        with torch.no_grad():
            coords = get_uncertain_point_coords_with_randomness(
                mask_preds[:, None], None, self.num_points, self.oversample_ratio, self.importance_sample_ratio)
            point_targets = point_sample(mask_targets[:, None].float(), coords)[:, 0]
        point_preds = point_sample(mask_preds[:, None], coords)[:, 0]
        loss_dice = self.loss_dice(point_preds, point_targets, avg_factor=num_masks)
        loss_mask = self.loss_mask(point_preds.reshape(-1), point_targets.reshape(-1),
                                   avg_factor=num_masks * self.num_points)
        return loss_cls, loss_mask, loss_dice
