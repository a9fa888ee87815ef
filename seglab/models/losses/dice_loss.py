"""DiceLoss (MMSeg 1.x): V-Net dice or naive dice over one-hot targets, per image."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ...registry import MODELS
from .utils import weight_reduce_loss

__all__ = ["DiceLoss", "dice_loss"]


def _onehot_like(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """One-hot (N, C, H, W) of labels (N, H, W); labels outside [0, C) (e.g. 255) give all-zero vectors."""
    num_classes = pred.shape[1]
    onehot = F.one_hot(target.clamp(0, num_classes), num_classes + 1)[..., :num_classes]
    return onehot.permute(0, 3, 1, 2)


def dice_loss(
    pred: torch.Tensor,
    target: torch.Tensor,
    weight: torch.Tensor | None = None,
    eps: float = 1e-3,
    reduction: str = "mean",
    naive_dice: bool = False,
    avg_factor: float | None = None,
    ignore_index: int | None = 255,
) -> torch.Tensor:
    """Dice loss of probabilities (N, C, H, W) against one-hot targets (N, C, H, W), one value per image.

    As in MMSeg 1.x, ``ignore_index`` drops that *channel* (when it is a valid class index); pixels labelled
    ``ignore_index`` already have an all-zero target. ``weight`` is per image (N,).
    """
    if ignore_index is not None:
        keep = torch.arange(pred.shape[1], device=pred.device) != ignore_index
        pred, target = pred[:, keep], target[:, keep]
        if pred.shape[1] == 0:
            raise ValueError("DiceLoss: ignore_index removes the only class")
    pred = pred.flatten(1)
    target = target.flatten(1).float()
    inter = (pred * target).sum(1)
    if naive_dice:
        dice = (2 * inter + eps) / (pred.sum(1) + target.sum(1) + eps)
    else:
        dice = 2 * inter / ((pred * pred).sum(1) + eps + (target * target).sum(1) + eps)
    loss = 1 - dice
    if weight is not None and (weight.dim() != loss.dim() or len(weight) != len(loss)):
        raise ValueError(f"DiceLoss weight must have shape ({len(loss)},) (one per image), got {tuple(weight.shape)}")
    return weight_reduce_loss(loss, weight, reduction, avg_factor)


@MODELS.register_module()
class DiceLoss(nn.Module):
    """Dice loss with sigmoid (default) or softmax activation; ``naive_dice`` uses first powers in the denominator."""

    def __init__(
        self,
        use_sigmoid: bool = True,
        activate: bool = True,
        reduction: str = "mean",
        naive_dice: bool = False,
        loss_weight: float = 1.0,
        ignore_index: int | None = 255,
        eps: float = 1e-3,
        loss_name: str = "loss_dice",
    ) -> None:
        super().__init__()
        self.use_sigmoid, self.activate = use_sigmoid, activate
        self.reduction, self.naive_dice = reduction, naive_dice
        self.loss_weight, self.ignore_index, self.eps = loss_weight, ignore_index, eps
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
        """Loss of logits (N, C, H, W) against labels (N, H, W) or one-hot targets (N, C, H, W).

        The module's own ``ignore_index`` applies (the call argument is accepted for the head's interface):
        pixels with that label are left out; if it is a class index, that class's channel is left out instead.
        """
        if reduction_override not in (None, "none", "mean", "sum"):
            raise ValueError(f"reduction_override must be None, 'none', 'mean' or 'sum', got {reduction_override!r}")
        onehot = target if pred.shape == target.shape else _onehot_like(pred, target)
        reduction = reduction_override or self.reduction
        if self.activate:
            if self.use_sigmoid:
                pred = pred.sigmoid()
            elif pred.shape[1] != 1:
                pred = pred.softmax(dim=1)
        if onehot is not target and self.ignore_index is not None and not 0 <= self.ignore_index < pred.shape[1]:
            # Pixels labelled ignore_index (e.g. 255 padding) must not count at all; MMSeg 1.2.2 leaves their
            # predictions in the denominators (open-mmlab/mmsegmentation#2996). A class-index ignore_index keeps
            # MMSeg's meaning (that channel is dropped in dice_loss).
            valid = (target != self.ignore_index).unsqueeze(1).to(pred.dtype)
            pred, onehot = pred * valid, onehot * valid
        return self.loss_weight * dice_loss(
            pred,
            onehot,
            weight,
            eps=self.eps,
            reduction=reduction,
            naive_dice=self.naive_dice,
            avg_factor=avg_factor,
            ignore_index=self.ignore_index,
        )

    @property
    def loss_name(self) -> str:
        """Key of this loss in the losses dict."""
        return self._loss_name
