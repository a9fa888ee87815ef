"""TverskyLoss from "Tversky loss function for image segmentation" (https://arxiv.org/abs/1706.05721)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ...registry import MODELS, ConfigError
from .utils import get_class_weight

__all__ = ["TverskyLoss", "tversky_loss"]


def binary_tversky_loss(
    pred: torch.Tensor,
    target: torch.Tensor,
    valid_mask: torch.Tensor,
    alpha: float = 0.3,
    beta: float = 0.7,
    smooth: float = 1.0,
) -> torch.Tensor:
    """Mean over images of 1 - Tversky index for one class: pred, target, valid_mask (N, H, W)."""
    pred = pred.reshape(pred.shape[0], -1)
    target = target.reshape(target.shape[0], -1)
    valid = valid_mask.reshape(valid_mask.shape[0], -1)
    tp = (pred * target * valid).sum(1)
    fp = (pred * (1 - target) * valid).sum(1)
    fn = ((1 - pred) * target * valid).sum(1)
    return (1 - (tp + smooth) / (tp + alpha * fp + beta * fn + smooth)).mean()


def tversky_loss(
    pred: torch.Tensor,
    target: torch.Tensor,
    valid_mask: torch.Tensor,
    alpha: float = 0.3,
    beta: float = 0.7,
    smooth: float = 1.0,
    class_weight: torch.Tensor | None = None,
    ignore_index: int = 255,
) -> torch.Tensor:
    """Class-averaged Tversky loss of probabilities (N, C, H, W) against one-hot targets (N, H, W, C).

    A class equal to ``ignore_index`` is skipped but the sum is still divided by C (as in MMSeg).
    """
    num_classes = pred.shape[1]
    total = pred.new_zeros(())
    for i in range(num_classes):
        if i == ignore_index:
            continue
        loss = binary_tversky_loss(pred[:, i], target[..., i], valid_mask, alpha, beta, smooth)
        if class_weight is not None:
            loss = loss * class_weight[i]
        total = total + loss
    return total / num_classes


@MODELS.register_module()
class TverskyLoss(nn.Module):
    """Softmax Tversky loss; ``alpha`` weighs false positives, ``beta`` false negatives (alpha + beta = 1)."""

    def __init__(
        self,
        smooth: float = 1,
        class_weight: list[float] | str | None = None,
        loss_weight: float = 1.0,
        ignore_index: int = 255,
        alpha: float = 0.3,
        beta: float = 0.7,
        loss_name: str = "loss_tversky",
    ) -> None:
        super().__init__()
        if alpha + beta != 1.0:
            raise ConfigError(f"TverskyLoss: alpha + beta must be 1.0, got {alpha} + {beta}")
        self.smooth, self.loss_weight, self.ignore_index = smooth, loss_weight, ignore_index
        self.class_weight = get_class_weight(class_weight)
        self.alpha, self.beta = alpha, beta
        self._loss_name = loss_name

    def forward(self, pred: torch.Tensor, target: torch.Tensor, **kwargs) -> torch.Tensor:
        """Loss of logits (N, C, H, W) against labels (N, H, W); the module's ``ignore_index`` applies."""
        class_weight = pred.new_tensor(self.class_weight) if self.class_weight is not None else None
        prob = F.softmax(pred, dim=1)
        num_classes = prob.shape[1]
        onehot = F.one_hot(target.long().clamp(0, num_classes - 1), num_classes=num_classes)
        valid = (target != self.ignore_index).long()
        return self.loss_weight * tversky_loss(
            prob, onehot, valid, self.alpha, self.beta, self.smooth, class_weight, self.ignore_index
        )

    @property
    def loss_name(self) -> str:
        """Key of this loss in the losses dict."""
        return self._loss_name
