"""What MaskFormer and Mask2Former heads share: MMSeg's arguments, ground truth as per-class binary masks,
deep-supervised losses over every decoder layer, and the semantic map from (classes x masks).

A head's ``forward(inputs)`` needs no data samples and returns ``(cls_scores_per_layer,
mask_preds_per_layer)``: lists of (N, Q, num_classes + 1) class logits (last = no object) and
(N, Q, h, w) mask logits. ``predict`` builds ``softmax(cls)[..., :-1]`` x ``sigmoid(mask)`` summed over
queries: (N, num_classes, H, W).
"""
from __future__ import annotations

import warnings
from collections.abc import Sequence

import torch
import torch.distributed as dist
from torch import nn
from torch.nn import functional as F

from ...registry import ConfigError
from ...structures import SegDataSample
from ._registry import MASK_LOSSES, TASK_UTILS, build_mmdet
from .assigner import SamplingResult

__all__ = ["MaskClassificationHead", "reduce_mean", "seg_data_to_instance_data", "semantic_inference"]


def seg_data_to_instance_data(batch_data_samples: Sequence[SegDataSample],
                              ignore_index: int) -> list[dict[str, torch.Tensor]]:
    """Per image ``labels`` (G,) of the classes present (``ignore_index`` excluded) and their binary
    ``masks`` (G, H, W) (long), from ``gt_sem_seg`` (1, H, W) — MMSeg's ``_seg_data_to_instance_data``."""
    out = []
    for sample in batch_data_samples:
        if "gt_sem_seg" not in sample:
            raise ValueError("mask-classification losses need data samples with gt_sem_seg")
        seg = sample.gt_sem_seg.data
        seg = seg.squeeze(0) if seg.dim() == 3 else seg
        labels = torch.unique(seg)
        labels = labels[labels != ignore_index]
        masks = (seg[None] == labels[:, None, None]).long()  # (G, H, W); (0, H, W) when nothing is labelled
        out.append(dict(labels=labels.long(), masks=masks))
    return out


def semantic_inference(cls_scores: torch.Tensor, mask_preds: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """cls (N, Q, K + 1), masks (N, Q, h, w) -> (N, K, H, W) = sum_q softmax(cls)[..., :K] * sigmoid(mask)."""
    masks = F.interpolate(mask_preds, size=tuple(int(s) for s in size[:2]), mode="bilinear", align_corners=False)
    probs = F.softmax(cls_scores, dim=-1)[..., :-1]
    return torch.einsum("bqc,bqhw->bchw", probs, masks.sigmoid())


def reduce_mean(value: torch.Tensor) -> torch.Tensor:
    """Mean of ``value`` over distributed ranks (itself on one process)."""
    if not (dist.is_available() and dist.is_initialized()):
        return value
    value = value.clone()
    dist.all_reduce(value.div_(dist.get_world_size()), op=dist.ReduceOp.SUM)
    return value


class MaskClassificationHead(nn.Module):
    """Base of MaskFormerHead / Mask2FormerHead (not registered); subclasses build the decoders and
    implement ``forward`` and ``_loss_single``."""

    def __init__(
        self,
        *,
        num_classes: int,
        in_channels: Sequence[int],
        feat_channels: int,
        out_channels: int,
        num_queries: int,
        loss_cls: dict,
        loss_mask: dict,
        loss_dice: dict,
        train_cfg: dict | None,
        test_cfg: dict | None,
        align_corners: bool,
        ignore_index: int,
        in_index: Sequence[int] | None,
        num_things_classes: int | None,
        num_stuff_classes: int | None,
        init_cfg: dict | list | None,
    ) -> None:
        super().__init__()
        if num_things_classes is not None or num_stuff_classes is not None:
            warnings.warn(f"{type(self).__name__}: num_things_classes/num_stuff_classes are panoptic (mmdet) "
                          "arguments; semantic segmentation uses num_classes and ignores them", stacklevel=3)
        self.num_classes = num_classes
        self.out_channels = num_classes  # what the segmentor sees: one logit map per class
        self.mask_channels = out_channels  # width of the mask embedding / mask feature
        self.feat_channels = feat_channels
        self.num_queries = num_queries
        self.in_channels = list(in_channels)
        self.in_index = list(range(len(in_channels))) if in_index is None else list(in_index)
        if len(self.in_index) != len(self.in_channels):
            raise ConfigError(f"{type(self).__name__}: in_index {self.in_index} and in_channels {self.in_channels} "
                              "differ in length")
        self.input_transform = "multiple_select"
        self.align_corners = align_corners
        self.ignore_index = ignore_index
        self.threshold = None
        self.init_cfg = init_cfg
        if test_cfg:
            warnings.warn(f"{type(self).__name__}: test_cfg {test_cfg} is unused: semantic inference always "
                          "combines classes and masks of every query (MMSeg's behaviour)", stacklevel=3)
        self.test_cfg = test_cfg
        self.train_cfg = dict(train_cfg) if train_cfg else {}

        class_weight = loss_cls.get("class_weight") if isinstance(loss_cls, dict) else None
        if class_weight is None:
            class_weight = [1.0] * (num_classes + 1)
        if len(class_weight) != num_classes + 1:
            raise ConfigError(f"{type(self).__name__}: loss_cls.class_weight has {len(class_weight)} entries; it "
                              f"needs num_classes + 1 = {num_classes + 1} (the last one weighs 'no object')")
        self.class_weight = list(class_weight)
        self.loss_cls = build_mmdet(loss_cls, MASK_LOSSES)
        self.loss_mask = build_mmdet(loss_mask, MASK_LOSSES)
        self.loss_dice = build_mmdet(loss_dice, MASK_LOSSES)
        self.assigner = self.sampler = None
        if self.train_cfg:
            if "assigner" not in self.train_cfg or "sampler" not in self.train_cfg:
                raise ConfigError(f"{type(self).__name__}: train_cfg needs 'assigner' and 'sampler', got "
                                  f"{sorted(self.train_cfg)}")
            self.assigner = build_mmdet(self.train_cfg["assigner"], TASK_UTILS)
            self.sampler = build_mmdet(self.train_cfg["sampler"], TASK_UTILS)

    def _select(self, inputs: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        return [inputs[i] for i in self.in_index]

    # -- training -------------------------------------------------------------------------------
    def _targets(self, assigned: SamplingResult, gt: dict[str, torch.Tensor],
                 device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """labels (Q,) (no object = num_classes), mask targets (P, H, W) in positive order, mask weights (Q,)."""
        labels = torch.full((self.num_queries,), self.num_classes, dtype=torch.long, device=device)
        labels[assigned.pos_inds] = gt["labels"][assigned.pos_assigned_gt_inds]
        weights = torch.zeros(self.num_queries, device=device)
        weights[assigned.pos_inds] = 1.0
        return labels, gt["masks"][assigned.pos_assigned_gt_inds], weights

    def _class_loss(self, cls_scores: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """CE over (N*Q) queries, normalised by the summed class weights of their targets."""
        cls_scores = cls_scores.flatten(0, 1)
        labels = labels.flatten(0, 1)
        class_weight = cls_scores.new_tensor(self.class_weight)
        return self.loss_cls(cls_scores, labels, torch.ones_like(labels, dtype=cls_scores.dtype),
                             avg_factor=class_weight[labels].sum())

    def _loss_single(self, cls_scores: torch.Tensor, mask_preds: torch.Tensor, gts: list[dict],
                     metas: list[dict]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def loss(self, inputs: Sequence[torch.Tensor], batch_data_samples: list[SegDataSample],
             train_cfg: dict | None = None) -> dict[str, torch.Tensor]:
        """Losses of the last layer (``loss_cls``, ``loss_mask``, ``loss_dice``) and of every earlier
        layer (``d{i}.loss_*``), each from its own Hungarian matching."""
        if self.assigner is None:
            raise ConfigError(f"{type(self).__name__}: training needs decode_head.train_cfg with an assigner and a "
                              "sampler (see configs/mask2former or configs/maskformer)")
        gts = seg_data_to_instance_data(batch_data_samples, self.ignore_index)
        metas = [s.metainfo for s in batch_data_samples]
        all_cls, all_masks = self.forward(inputs, batch_data_samples)
        per_layer = [self._loss_single(c, m, gts, metas) for c, m in zip(all_cls, all_masks)]
        losses: dict[str, torch.Tensor] = {}
        *earlier, last = per_layer
        losses["loss_cls"], losses["loss_mask"], losses["loss_dice"] = last
        for i, (loss_cls, loss_mask, loss_dice) in enumerate(earlier):
            losses[f"d{i}.loss_cls"], losses[f"d{i}.loss_mask"], losses[f"d{i}.loss_dice"] = (
                loss_cls, loss_mask, loss_dice)
        return losses

    # -- inference ------------------------------------------------------------------------------
    def _predict_size(self, batch_img_metas: list[dict]) -> Sequence[int]:
        meta = batch_img_metas[0]
        return meta["pad_shape"] if "pad_shape" in meta else meta["img_shape"]

    def predict(self, inputs: Sequence[torch.Tensor], batch_img_metas: list[dict],
                test_cfg: dict | None = None) -> torch.Tensor:
        """Semantic logits (N, num_classes, H, W) at the metas' input size from the last decoder layer."""
        samples = [SegDataSample(metainfo=dict(m)) for m in batch_img_metas]
        all_cls, all_masks = self.forward(inputs, samples)
        return semantic_inference(all_cls[-1], all_masks[-1], self._predict_size(batch_img_metas))
