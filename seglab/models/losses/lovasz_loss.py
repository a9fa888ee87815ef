"""LovaszLoss from "The Lovasz-Softmax loss" (https://arxiv.org/abs/1705.08790): IoU surrogates, hinge and softmax."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ...registry import MODELS, ConfigError
from .utils import get_class_weight, weight_reduce_loss

__all__ = ["LovaszLoss", "lovasz_hinge", "lovasz_softmax"]


def lovasz_grad(gt_sorted: torch.Tensor) -> torch.Tensor:
    """Gradient of the Lovasz extension of the Jaccard loss at errors sorted descending; gt_sorted (P,)."""
    gts = gt_sorted.sum()
    gt = gt_sorted.float()
    intersection = gts - gt.cumsum(0)
    union = gts + (1 - gt).cumsum(0)
    jaccard = 1.0 - intersection / union
    if len(gt_sorted) > 1:
        jaccard = torch.cat([jaccard[:1], jaccard[1:] - jaccard[:-1]])
    return jaccard


def _flatten_binary(
    logits: torch.Tensor, labels: torch.Tensor, ignore_index: int | None
) -> tuple[torch.Tensor, torch.Tensor]:
    logits, labels = logits.reshape(-1), labels.reshape(-1)
    if ignore_index is None:
        return logits, labels
    valid = labels != ignore_index
    return logits[valid], labels[valid]


def _flatten_probs(
    probs: torch.Tensor, labels: torch.Tensor, ignore_index: int | None
) -> tuple[torch.Tensor, torch.Tensor]:
    if probs.dim() == 3:
        probs = probs.unsqueeze(1)
    num_classes = probs.shape[1]
    probs = probs.permute(0, 2, 3, 1).reshape(-1, num_classes)
    labels = labels.reshape(-1)
    if ignore_index is None:
        return probs, labels
    valid = labels != ignore_index
    return probs[valid], labels[valid]


def lovasz_hinge_flat(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Binary Lovasz hinge of flat logits (P,) against {0, 1} labels (P,)."""
    if len(labels) == 0:
        return logits.sum() * 0.0
    signs = 2.0 * labels.float() - 1.0
    errors = 1.0 - logits * signs
    errors_sorted, perm = torch.sort(errors, dim=0, descending=True)
    return torch.dot(F.relu(errors_sorted), lovasz_grad(labels[perm]))


def lovasz_softmax_flat(
    probs: torch.Tensor,
    labels: torch.Tensor,
    classes: str | Sequence[int] = "present",
    class_weight: torch.Tensor | None = None,
) -> torch.Tensor:
    """Multi-class Lovasz-Softmax of flat probabilities (P, C) against labels (P,), averaged over classes."""
    if probs.numel() == 0:
        return probs.sum() * 0.0
    num_classes = probs.size(1)
    to_sum = list(range(num_classes)) if classes in ("all", "present") else list(classes)
    losses = []
    for c in to_sum:
        fg = (labels == c).float()
        if classes == "present" and fg.sum() == 0:
            continue
        if num_classes == 1:
            if len(to_sum) > 1:
                raise ValueError("a single-channel (sigmoid) prediction supports only one class")
            class_pred = probs[:, 0]
        else:
            class_pred = probs[:, c]
        errors = (fg - class_pred).abs()
        errors_sorted, perm = torch.sort(errors, 0, descending=True)
        loss = torch.dot(errors_sorted, lovasz_grad(fg[perm]))
        if class_weight is not None:
            loss = loss * class_weight[c]
        losses.append(loss)
    if not losses:  # MMSeg would average an empty list (NaN); no present class contributes nothing
        return probs.sum() * 0.0
    return torch.stack(losses).mean()


def lovasz_hinge(
    logits: torch.Tensor,
    labels: torch.Tensor,
    classes: str | Sequence[int] = "present",
    per_image: bool = False,
    class_weight: torch.Tensor | None = None,
    reduction: str = "mean",
    avg_factor: float | None = None,
    ignore_index: int | None = 255,
) -> torch.Tensor:
    """Binary Lovasz hinge of logits (N, H, W) or (N, 1, H, W) against labels (N, H, W)."""
    if per_image:
        per = [
            lovasz_hinge_flat(*_flatten_binary(lg.unsqueeze(0), lb.unsqueeze(0), ignore_index))
            for lg, lb in zip(logits, labels)
        ]
        return weight_reduce_loss(torch.stack(per), None, reduction, avg_factor)
    return lovasz_hinge_flat(*_flatten_binary(logits, labels, ignore_index))


def lovasz_softmax(
    probs: torch.Tensor,
    labels: torch.Tensor,
    classes: str | Sequence[int] = "present",
    per_image: bool = False,
    class_weight: torch.Tensor | None = None,
    reduction: str = "mean",
    avg_factor: float | None = None,
    ignore_index: int | None = 255,
) -> torch.Tensor:
    """Multi-class Lovasz-Softmax of probabilities (N, C, H, W) against labels (N, H, W)."""
    if per_image:
        per = [
            lovasz_softmax_flat(
                *_flatten_probs(p.unsqueeze(0), lb.unsqueeze(0), ignore_index),
                classes=classes,
                class_weight=class_weight,
            )
            for p, lb in zip(probs, labels)
        ]
        return weight_reduce_loss(torch.stack(per), None, reduction, avg_factor)
    return lovasz_softmax_flat(*_flatten_probs(probs, labels, ignore_index), classes=classes, class_weight=class_weight)


@MODELS.register_module()
class LovaszLoss(nn.Module):
    """Lovasz hinge ('binary') or Lovasz-Softmax ('multi_class'); ``reduction`` must be 'none' unless ``per_image``."""

    def __init__(
        self,
        loss_type: str = "multi_class",
        classes: str | Sequence[int] = "present",
        per_image: bool = False,
        reduction: str = "mean",
        class_weight: list[float] | str | None = None,
        loss_weight: float = 1.0,
        loss_name: str = "loss_lovasz",
    ) -> None:
        super().__init__()
        if loss_type not in ("binary", "multi_class"):
            raise ConfigError(f"LovaszLoss: loss_type must be 'binary' or 'multi_class', got {loss_type!r}")
        if not (
            classes in ("all", "present")
            or (isinstance(classes, (list, tuple)) and all(isinstance(c, int) for c in classes))
        ):
            raise ConfigError(f"LovaszLoss: classes must be 'all', 'present' or a list of ints, got {classes!r}")
        if not per_image and reduction != "none":
            raise ConfigError(
                "LovaszLoss: reduction must be 'none' when per_image is False (the loss is one "
                "value over the batch); set reduction='none' or per_image=True"
            )
        self.loss_type, self.classes, self.per_image = loss_type, classes, per_image
        self.reduction, self.loss_weight = reduction, loss_weight
        self.class_weight = get_class_weight(class_weight)
        self.cls_criterion = lovasz_hinge if loss_type == "binary" else lovasz_softmax
        self._loss_name = loss_name

    def forward(
        self,
        cls_score: torch.Tensor,
        label: torch.Tensor,
        weight: torch.Tensor | None = None,
        avg_factor: float | None = None,
        reduction_override: str | None = None,
        ignore_index: int | None = 255,
        **kwargs,
    ) -> torch.Tensor:
        """Loss of logits (N, C, H, W) against labels (N, H, W); ``weight`` is not used (as in MMSeg)."""
        if reduction_override not in (None, "none", "mean", "sum"):
            raise ValueError(f"reduction_override must be None, 'none', 'mean' or 'sum', got {reduction_override!r}")
        reduction = reduction_override or self.reduction
        class_weight = cls_score.new_tensor(self.class_weight) if self.class_weight is not None else None
        if self.loss_type == "multi_class":
            cls_score = F.softmax(cls_score, dim=1)
        return self.loss_weight * self.cls_criterion(
            cls_score,
            label,
            self.classes,
            self.per_image,
            class_weight=class_weight,
            reduction=reduction,
            avg_factor=avg_factor,
            ignore_index=ignore_index,
        )

    @property
    def loss_name(self) -> str:
        """Key of this loss in the losses dict."""
        return self._loss_name
