"""Scale-invariant logarithmic loss from "Depth Map Prediction from a Single Image using a Multi-Scale Deep
Network" (https://arxiv.org/abs/1406.2283), as MMSeg 1.2.2's ``SiLogLoss`` computes it (for depth heads)."""
from __future__ import annotations

import torch
from torch import nn

from ...registry import MODELS, ConfigError
from .utils import weight_reduce_loss

__all__ = ["SiLogLoss", "silog_loss"]


def silog_loss(pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None, eps: float = 1e-4,
               reduction: str = "mean", avg_factor: float | None = None) -> torch.Tensor:
    """Per sample ``sqrt(mean(d^2) - 0.5 * mean(d)^2)`` with ``d = log(target) - log(pred)`` over the pixels whose
    target exceeds ``eps`` (both clamped at ``eps`` before the log), then weighted and reduced over the batch.

    pred, target: (N, ...) of the same shape; ``weight``: (N,) per-sample weights.
    """
    pred, target = pred.flatten(1), target.flatten(1)
    diff = torch.log(target.clamp(min=eps)) - torch.log(pred.clamp(min=eps))
    valid = (target > eps).detach() & ~torch.isnan(diff)
    diff = torch.where(valid, diff, torch.zeros_like(diff))
    valid = valid.to(diff.dtype)
    count = valid.sum(dim=1).clamp(min=eps)
    mean_sq = (diff.pow(2) * valid).sum(dim=1) / count
    mean = (diff * valid).sum(dim=1) / count
    loss = torch.sqrt(mean_sq - 0.5 * mean.pow(2))
    return weight_reduce_loss(loss, weight.float() if weight is not None else None, reduction, avg_factor)


@MODELS.register_module()
class SiLogLoss(nn.Module):
    """SI-log loss between positive predictions and targets of the same shape (e.g. depth maps (N, 1, H, W))."""

    def __init__(self, reduction: str = "mean", loss_weight: float = 1.0, eps: float = 1e-6,
                 loss_name: str = "loss_silog") -> None:
        super().__init__()
        if reduction not in ("none", "mean", "sum"):
            raise ConfigError(f"SiLogLoss: reduction must be 'none', 'mean' or 'sum', got {reduction!r}")
        self.reduction, self.loss_weight, self.eps = reduction, loss_weight, eps
        self._loss_name = loss_name

    @property
    def loss_name(self) -> str:
        """The key of this loss in the losses dict."""
        return self._loss_name

    def forward(self, pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None,
                avg_factor: float | None = None, reduction_override: str | None = None) -> torch.Tensor:
        """pred, target: (N, ...) -> the loss reduced over the batch ('none': (N,))."""
        if pred.shape != target.shape:
            raise ValueError(f"SiLogLoss: pred {tuple(pred.shape)} and target {tuple(target.shape)} differ in shape")
        reduction = reduction_override or self.reduction
        return self.loss_weight * silog_loss(pred, target, weight, self.eps, reduction, avg_factor)
