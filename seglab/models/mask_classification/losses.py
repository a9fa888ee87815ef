"""mmdet's losses as MaskFormer/Mask2Former use them (``type='mmdet.CrossEntropyLoss'`` etc.).

They differ from MMSeg's losses of the same names: each takes per-element ``weight`` and an
``avg_factor`` (mean = sum / (avg_factor + float32 eps)), the CE has no ``avg_non_ignore`` default
ignore of 255, and the sigmoid focal loss takes class labels where ``label == num_classes`` is background.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from ...registry import ConfigError
from ._registry import MASK_LOSSES

__all__ = ["CrossEntropyLoss", "DiceLoss", "FocalLoss", "weight_reduce_loss"]

_REDUCTIONS = ("none", "mean", "sum")


def weight_reduce_loss(loss: torch.Tensor, weight: torch.Tensor | None = None, reduction: str = "mean",
                       avg_factor: float | torch.Tensor | None = None) -> torch.Tensor:
    """Multiply by ``weight``, then reduce; with ``avg_factor`` the mean is ``sum / (avg_factor + eps)``."""
    if weight is not None:
        loss = loss * weight
    if avg_factor is None:
        if reduction == "mean":
            return loss.mean()
        return loss.sum() if reduction == "sum" else loss
    if reduction == "mean":
        return loss.sum() / (avg_factor + torch.finfo(torch.float32).eps)
    if reduction != "none":
        raise ValueError('avg_factor can not be used with reduction="sum"')
    return loss


def _check_reduction(reduction: str, where: str) -> None:
    if reduction not in _REDUCTIONS:
        raise ConfigError(f"{where}: reduction must be one of {_REDUCTIONS}, got {reduction!r}")


@MASK_LOSSES.register_module()
class CrossEntropyLoss(nn.Module):
    """mmdet's cross entropy: softmax CE over classes (pred (N, C), label (N,)) or, with ``use_sigmoid``,
    element-wise binary CE with logits (pred and label of one shape; labels < 0 or == ignore_index weigh 0)."""

    def __init__(self, use_sigmoid: bool = False, use_mask: bool = False, reduction: str = "mean",
                 class_weight: list[float] | None = None, ignore_index: int | None = None, loss_weight: float = 1.0,
                 avg_non_ignore: bool = False) -> None:
        super().__init__()
        if use_sigmoid and use_mask:
            raise ConfigError("CrossEntropyLoss: use_sigmoid and use_mask are exclusive")
        if use_mask:
            raise ConfigError("CrossEntropyLoss: use_mask (per-ROI mask CE of mmdet's detectors) is not used by "
                              "semantic segmentation heads; use use_sigmoid=True for mask logits")
        _check_reduction(reduction, "CrossEntropyLoss")
        self.use_sigmoid = use_sigmoid
        self.reduction = reduction
        self.class_weight = class_weight
        self.ignore_index = ignore_index
        self.loss_weight = loss_weight
        self.avg_non_ignore = avg_non_ignore

    def forward(self, pred: torch.Tensor, label: torch.Tensor, weight: torch.Tensor | None = None,
                avg_factor: float | torch.Tensor | None = None, reduction_override: str | None = None,
                ignore_index: int | None = None) -> torch.Tensor:
        """Weighted, reduced loss times ``loss_weight``."""
        reduction = reduction_override or self.reduction
        ignore = self.ignore_index if ignore_index is None else ignore_index
        ignore = -100 if ignore is None else ignore
        class_weight = pred.new_tensor(self.class_weight) if self.class_weight is not None else None
        if self.use_sigmoid:
            if pred.dim() != label.dim():
                raise ValueError(f"sigmoid CrossEntropyLoss needs pred and label of one shape, got "
                                 f"{tuple(pred.shape)} and {tuple(label.shape)}")
            valid = ((label >= 0) & (label != ignore)).float()
            weight = valid if weight is None else weight * valid
            if avg_factor is None and self.avg_non_ignore and reduction == "mean":
                avg_factor = valid.sum().item()
            loss = F.binary_cross_entropy_with_logits(pred, label.float(), pos_weight=class_weight, reduction="none")
            return self.loss_weight * weight_reduce_loss(loss, weight.float(), reduction, avg_factor)
        loss = F.cross_entropy(pred, label, weight=class_weight, reduction="none", ignore_index=ignore)
        if avg_factor is None and self.avg_non_ignore and reduction == "mean":
            avg_factor = label.numel() - (label == ignore).sum().item()
        if weight is not None:
            weight = weight.float()
        return self.loss_weight * weight_reduce_loss(loss, weight, reduction, avg_factor)


@MASK_LOSSES.register_module()
class DiceLoss(nn.Module):
    """mmdet's Dice loss per mask: pred/target (N, ...) -> 1 - (2|P∩T| + eps) / (|P| + |T| + eps) with
    ``naive_dice``, else 1 - 2|P∩T| / (|P|² + eps + |T|² + eps); ``activate`` applies the sigmoid."""

    def __init__(self, use_sigmoid: bool = True, activate: bool = True, reduction: str = "mean",
                 naive_dice: bool = False, loss_weight: float = 1.0, eps: float = 1e-3) -> None:
        super().__init__()
        if activate and not use_sigmoid:
            raise ConfigError("DiceLoss: activate=True needs use_sigmoid=True (mmdet has no softmax Dice)")
        _check_reduction(reduction, "DiceLoss")
        self.use_sigmoid = use_sigmoid
        self.activate = activate
        self.reduction = reduction
        self.naive_dice = naive_dice
        self.loss_weight = loss_weight
        self.eps = eps

    def forward(self, pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None,
                avg_factor: float | torch.Tensor | None = None, reduction_override: str | None = None) -> torch.Tensor:
        """pred: logits (or probabilities without ``activate``) (N, ...); target: binary (N, ...)."""
        reduction = reduction_override or self.reduction
        if self.activate:
            pred = pred.sigmoid()
        pred = pred.flatten(1)
        target = target.flatten(1).float()
        inter = (pred * target).sum(1)
        if self.naive_dice:
            dice = (2 * inter + self.eps) / (pred.sum(1) + target.sum(1) + self.eps)
        else:
            dice = 2 * inter / ((pred * pred).sum(1) + self.eps + (target * target).sum(1) + self.eps)
        return self.loss_weight * weight_reduce_loss(1 - dice, weight, reduction, avg_factor)


@MASK_LOSSES.register_module()
class FocalLoss(nn.Module):
    """mmdet's sigmoid focal loss: pred (N, C) logits, target (N,) labels in [0, C] (C = background).

    loss = BCE(p, t) * (alpha t + (1 - alpha)(1 - t)) * |t - p|^gamma on the one-hot targets t.
    """

    def __init__(self, use_sigmoid: bool = True, gamma: float = 2.0, alpha: float = 0.25, reduction: str = "mean",
                 loss_weight: float = 1.0, activated: bool = False) -> None:
        super().__init__()
        if not use_sigmoid:
            raise ConfigError("FocalLoss: only the sigmoid focal loss exists (use_sigmoid=True)")
        _check_reduction(reduction, "FocalLoss")
        self.use_sigmoid = use_sigmoid
        self.gamma = gamma
        self.alpha = alpha
        self.reduction = reduction
        self.loss_weight = loss_weight
        self.activated = activated

    def forward(self, pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None,
                avg_factor: float | torch.Tensor | None = None, reduction_override: str | None = None) -> torch.Tensor:
        """Weighted, reduced focal loss times ``loss_weight``."""
        reduction = reduction_override or self.reduction
        num_classes = pred.shape[1]
        if target.dim() == 1:
            target = F.one_hot(target.long(), num_classes=num_classes + 1)[:, :num_classes]
        target = target.type_as(pred)
        prob = pred if self.activated else pred.sigmoid()
        pt = (1 - prob) * target + prob * (1 - target)
        focal_weight = (self.alpha * target + (1 - self.alpha) * (1 - target)) * pt.pow(self.gamma)
        if self.activated:
            loss = F.binary_cross_entropy(prob, target, reduction="none") * focal_weight
        else:
            loss = F.binary_cross_entropy_with_logits(pred, target, reduction="none") * focal_weight
        if weight is not None:
            weight = weight.view(-1, 1) if weight.dim() == 1 and weight.numel() == loss.shape[0] else weight
        return self.loss_weight * weight_reduce_loss(loss, weight, reduction, avg_factor)
