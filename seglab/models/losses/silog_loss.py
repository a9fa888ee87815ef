"""SiLogLoss: the scale-invariant log loss for depth (Eigen et al., NeurIPS 2014, https://arxiv.org/abs/1406.2283).

MMSeg 1.x's form: per image, ``sqrt(mean(d^2) - 0.5 * mean(d)^2)`` with ``d = log(gt) - log(pred)`` over
the pixels whose ground truth is above ``eps`` (0 marks "no depth" in NYU/KITTI maps).
"""

from __future__ import annotations

import torch
from torch import nn

from ...registry import MODELS
from .utils import weight_reduce_loss

__all__ = ["SiLogLoss", "silog_loss"]


def silog_loss(
    pred: torch.Tensor,
    target: torch.Tensor,
    weight: torch.Tensor | None = None,
    eps: float = 1e-4,
    reduction: str = "mean",
    avg_factor: float | None = None,
) -> torch.Tensor:
    """SI-log loss of depths ``pred`` and ``target`` (N, ...): one value per image, then reduced.

    Pixels with ``target <= eps`` (or a NaN log difference) are left out; ``weight`` is per image (N,).
    """
    pred, target = pred.flatten(1), target.flatten(1)
    diff = torch.log(target.clamp(min=eps)) - torch.log(pred.clamp(min=eps))
    valid = (target > eps) & ~torch.isnan(diff)
    # where() rather than masking in place: no gradient flows through left-out pixels.
    diff = torch.where(valid, diff, torch.zeros_like(diff))
    count = valid.float().sum(dim=1).clamp(min=eps)
    mean_sq = diff.pow(2).sum(dim=1) / count
    mean = diff.sum(dim=1) / count
    loss = torch.sqrt(mean_sq - 0.5 * mean.pow(2))
    return weight_reduce_loss(loss, weight.float() if weight is not None else None, reduction, avg_factor)


@MODELS.register_module()
class SiLogLoss(nn.Module):
    """Scale-invariant log loss of predicted depth (N, 1, H, W) against ground-truth depth of the same shape."""

    def __init__(
        self, reduction: str = "mean", loss_weight: float = 1.0, eps: float = 1e-6, loss_name: str = "loss_silog"
    ) -> None:
        super().__init__()
        if reduction not in ("none", "mean", "sum"):
            raise ValueError(f"SiLogLoss: reduction must be 'none', 'mean' or 'sum', got {reduction!r}")
        self.reduction = reduction
        self.loss_weight = loss_weight
        self.eps = eps
        self._loss_name = loss_name

    def forward(
        self,
        pred: torch.Tensor,
        target: torch.Tensor,
        weight: torch.Tensor | None = None,
        avg_factor: float | None = None,
        reduction_override: str | None = None,
    ) -> torch.Tensor:
        """The weighted loss; ``pred`` and ``target`` must have the same shape."""
        if pred.shape != target.shape:
            raise ValueError(f"SiLogLoss: pred {tuple(pred.shape)} and target {tuple(target.shape)} differ in shape")
        if reduction_override not in (None, "none", "mean", "sum"):
            raise ValueError(f"SiLogLoss: reduction_override must be None, 'none', 'mean' or 'sum', "
                             f"got {reduction_override!r}")
        reduction = reduction_override or self.reduction
        return self.loss_weight * silog_loss(pred, target, weight, eps=self.eps, reduction=reduction,
                                             avg_factor=avg_factor)

    @property
    def loss_name(self) -> str:
        """The key of this loss in the losses dict (a 'loss_' prefix puts it in the total)."""
        return self._loss_name
