"""Hausdorff distance loss from "How Distance Transform Maps Boost Segmentation CNNs: An Empirical Study"
(http://proceedings.mlr.press/v121/ma20b.html), as MMSeg 1.2.2 computes it (``HuasdorffDisstanceLoss``,
MMSeg's spelling; ``HausdorffDistanceLoss`` is the same class under the correct spelling).

Per foreground class c >= 1: mean over pixels of ``(p_c - y)^2 * (d_pred^2 + d_gt^2)``, where ``p_c`` is the
softmax probability, ``y`` the label value and ``d_gt``/``d_pred`` the Euclidean distance transforms of the
foreground (``label != 0``) of the ground truth and of the argmax prediction; the class terms are summed and
divided by the number of classes. For binary segmentation (background 0, foreground 1) this is the paper's
loss. With more classes it keeps MMSeg's definition (one foreground map and the label value, not per-class
one-hot masks), so that numbers match MMSeg's.
"""
from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ...registry import MODELS, ConfigError
from .utils import get_class_weight, weight_reduce_loss

__all__ = ["HausdorffDistanceLoss", "HuasdorffDisstanceLoss", "foreground_distance_map", "hausdorff_distance_loss"]


def foreground_distance_map(labels: torch.Tensor) -> torch.Tensor:
    """Distance of every foreground (non-zero) pixel to the nearest background pixel, 0 on background.

    labels: (N, H, W) integers -> (N, H, W) float32. A map without foreground is all zeros; one without
    background measures to the pixel just above the top-left corner, as scipy's ``distance_transform_edt``
    (MMSeg's) does.
    """
    out = np.zeros(labels.shape, dtype=np.float32)
    masks = (labels != 0).cpu().numpy().astype(np.uint8)
    for i, mask in enumerate(masks):
        if not mask.any():
            continue
        if mask.all():
            ys, xs = np.mgrid[: mask.shape[0], : mask.shape[1]]
            out[i] = np.sqrt((ys + 1.0) ** 2 + xs**2)
        else:
            out[i] = cv2.distanceTransform(mask, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    return torch.from_numpy(out).to(labels.device)


def hausdorff_distance_loss(probs: torch.Tensor, target: torch.Tensor, pred_dtm: torch.Tensor, gt_dtm: torch.Tensor,
                            class_weight: torch.Tensor | None = None, ignore_index: int = 255) -> torch.Tensor:
    """Scalar loss from softmax ``probs`` (N, C, H, W), labels ``target`` (N, H, W) and the foreground distance
    maps (N, H, W) of the prediction and the ground truth."""
    num_classes = probs.shape[1]
    dtm = pred_dtm**2 + gt_dtm**2
    total = probs.new_zeros(())
    for c in range(1, num_classes):
        if c == ignore_index:
            continue
        term = ((probs[:, c] - target.to(probs.dtype)) ** 2 * dtm).mean()
        total = total + (term * class_weight[c] if class_weight is not None else term)
    return total / num_classes


@MODELS.register_module()
class HuasdorffDisstanceLoss(nn.Module):
    """Hausdorff distance loss on logits (N, C, H, W) and labels (N, H, W); ignored pixels count as background.

    ``class_weight`` (C floats or a .npy/.pkl path) scales each class term; the loss is one scalar per batch,
    so ``reduction`` changes nothing and ``avg_factor`` divides it.
    """

    def __init__(self, reduction: str = "mean", class_weight: Sequence[float] | str | None = None,
                 loss_weight: float = 1.0, ignore_index: int = 255,
                 loss_name: str = "loss_huasdorff_disstance") -> None:
        super().__init__()
        if reduction not in ("none", "mean", "sum"):
            raise ConfigError(f"{type(self).__name__}: reduction must be 'none', 'mean' or 'sum', got {reduction!r}")
        self.reduction, self.loss_weight, self.ignore_index = reduction, loss_weight, ignore_index
        self.class_weight = get_class_weight(class_weight)
        self._loss_name = loss_name

    @property
    def loss_name(self) -> str:
        """The key of this loss in the losses dict."""
        return self._loss_name

    def forward(self, pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None,
                avg_factor: float | None = None, reduction_override: str | None = None,
                **kwargs) -> torch.Tensor:
        """pred: (N, C, H, W) logits, target: (N, H, W) labels -> scalar loss.

        The head's ``ignore_index`` keyword is not used: this loss's own ``ignore_index`` applies (as in MMSeg).
        """
        if weight is not None:
            raise ValueError(f"{type(self).__name__} takes no per-pixel weight; remove the head's sampler")
        reduction = reduction_override or self.reduction
        if reduction not in ("none", "mean", "sum"):
            raise ValueError(f"reduction_override must be 'none', 'mean' or 'sum', got {reduction_override!r}")
        class_weight = None
        if self.class_weight is not None:
            if len(self.class_weight) != pred.shape[1]:
                raise ValueError(f"{type(self).__name__}: class_weight has {len(self.class_weight)} entries for "
                                 f"{pred.shape[1]} classes")
            class_weight = pred.new_tensor(self.class_weight)
        probs = F.softmax(pred, dim=1)
        target = target * (target != self.ignore_index).to(target.dtype)
        with torch.no_grad():
            gt_dtm = foreground_distance_map(target)
            pred_dtm = foreground_distance_map(probs.argmax(dim=1))
        loss = hausdorff_distance_loss(probs, target, pred_dtm, gt_dtm, class_weight, self.ignore_index)
        return self.loss_weight * weight_reduce_loss(loss, None, reduction, avg_factor)


@MODELS.register_module()
class HausdorffDistanceLoss(HuasdorffDisstanceLoss):
    """:class:`HuasdorffDisstanceLoss` under its correctly spelt name (same arguments, same loss)."""
