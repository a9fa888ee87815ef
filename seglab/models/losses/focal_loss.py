"""Sigmoid FocalLoss from "Focal Loss for Dense Object Detection" (https://arxiv.org/abs/1708.02002), pure PyTorch."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ...registry import MODELS, ConfigError
from .utils import weight_reduce_loss

__all__ = ["FocalLoss", "sigmoid_focal_loss"]


def sigmoid_focal_loss(
    pred: torch.Tensor,
    target: torch.Tensor,
    weight: torch.Tensor | None = None,
    gamma: float = 2.0,
    alpha: float | list[float] = 0.5,
    class_weight: list[float] | None = None,
    valid_mask: torch.Tensor | None = None,
    reduction: str = "mean",
    avg_factor: float | None = None,
) -> torch.Tensor:
    """Focal loss of logits (P, C) against binary targets (P, C).

    ``alpha`` weighs positives (``1 - alpha`` negatives), per class when a list. ``weight`` is (P,) or
    (P, C); ``valid_mask`` (P, 1) zeroes ignored pixels, which still count in the 'mean' denominator.
    """
    target = target.type_as(pred)
    prob = pred.sigmoid()
    one_minus_pt = (1 - prob) * target + prob * (1 - target)
    alpha_t = pred.new_tensor(alpha) if isinstance(alpha, (list, tuple)) else alpha
    focal_weight = (alpha_t * target + (1 - alpha_t) * (1 - target)) * one_minus_pt.pow(gamma)
    loss = F.binary_cross_entropy_with_logits(pred, target, reduction="none") * focal_weight
    final_weight = loss.new_ones(1, pred.size(1))
    if weight is not None:
        if weight.shape != loss.shape and weight.size(0) == loss.size(0):
            weight = weight.reshape(-1, 1)
        final_weight = final_weight * weight
    if class_weight is not None:
        final_weight = final_weight * pred.new_tensor(class_weight)
    if valid_mask is not None:
        final_weight = final_weight * valid_mask
    return weight_reduce_loss(loss, final_weight, reduction, avg_factor)


@MODELS.register_module()
class FocalLoss(nn.Module):
    """Sigmoid focal loss over labels (N, H, W) or one-hot targets (N, C, H, W), MMSeg 1.x arguments.

    With C=1 a pixel is positive when its label is 1. Pixels labelled ``ignore_index`` get weight 0.
    """

    def __init__(
        self,
        use_sigmoid: bool = True,
        gamma: float = 2.0,
        alpha: float | list[float] = 0.5,
        reduction: str = "mean",
        class_weight: list[float] | None = None,
        loss_weight: float = 1.0,
        loss_name: str = "loss_focal",
    ) -> None:
        super().__init__()
        if use_sigmoid is not True:
            raise ConfigError("FocalLoss: only the sigmoid focal loss is supported (use_sigmoid=True)")
        if reduction not in ("none", "mean", "sum"):
            raise ConfigError(f"FocalLoss: reduction must be 'none', 'mean' or 'sum', got {reduction!r}")
        if class_weight is not None and not isinstance(class_weight, (list, tuple)):
            raise ConfigError("FocalLoss: class_weight must be None or a list of floats")
        self.use_sigmoid, self.gamma, self.alpha = use_sigmoid, float(gamma), alpha
        self.reduction, self.class_weight, self.loss_weight = reduction, class_weight, float(loss_weight)
        self._loss_name = loss_name

    def forward(
        self,
        pred: torch.Tensor,
        target: torch.Tensor,
        weight: torch.Tensor | None = None,
        avg_factor: float | None = None,
        reduction_override: str | None = None,
        ignore_index: int = 255,
        **kwargs,
    ) -> torch.Tensor:
        """Loss of logits (N, C, H, W); 'none' returns (N, C, H, W)."""
        if reduction_override not in (None, "none", "mean", "sum"):
            raise ValueError(f"reduction_override must be None, 'none', 'mean' or 'sum', got {reduction_override!r}")
        if not (pred.shape == target.shape or (pred.size(0) == target.size(0) and pred.shape[2:] == target.shape[1:])):
            raise ValueError(f"FocalLoss: target {tuple(target.shape)} does not match pred {tuple(pred.shape)}")
        shape = pred.shape
        num_classes = shape[1]
        flat_pred = pred.transpose(0, 1).reshape(num_classes, -1).t()  # (P, C), P = N*H*W
        if target.shape == shape:
            flat_target = target.transpose(0, 1).reshape(num_classes, -1).t()
            valid = (flat_target.argmax(dim=1) != ignore_index).reshape(-1, 1)
        else:
            labels = target.reshape(-1)
            valid = (labels != ignore_index).reshape(-1, 1)
            labels = labels.masked_fill(~valid.squeeze(1), 0)
            # Label num_classes (out of range) is background for every class; C=1 means label 1 is positive.
            onehot = F.one_hot(labels.clamp(0, num_classes), num_classes + 1)
            flat_target = onehot[:, 1:2] if num_classes == 1 else onehot[:, :num_classes]
        if weight is not None and weight.dim() > 1 and weight.shape != flat_pred.shape:
            weight = weight.reshape(-1)  # per-pixel (N, H, W) weight, e.g. from OHEM
        reduction = reduction_override or self.reduction
        loss = self.loss_weight * sigmoid_focal_loss(
            flat_pred,
            flat_target,
            weight,
            gamma=self.gamma,
            alpha=self.alpha,
            class_weight=self.class_weight,
            valid_mask=valid,
            reduction=reduction,
            avg_factor=avg_factor,
        )
        if reduction == "none":
            loss = loss.t().reshape(shape[1], shape[0], *shape[2:]).transpose(0, 1).contiguous()
        return loss

    @property
    def loss_name(self) -> str:
        """Key of this loss in the losses dict."""
        return self._loss_name
