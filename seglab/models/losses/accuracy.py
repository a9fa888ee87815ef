"""Pixel accuracy used as the ``acc_seg`` training log value."""
from __future__ import annotations

import torch
from torch import nn

from ...registry import MODELS

__all__ = ["accuracy", "Accuracy"]


def accuracy(pred: torch.Tensor, target: torch.Tensor, topk: int = 1, thresh: float | None = None,
             ignore_index: int | None = None) -> torch.Tensor:
    """Top-k accuracy in percent of logits (N, C, ...) against labels (N, ...), skipping ``ignore_index``.

    For a single-channel (sigmoid) prediction the logit is thresholded at 0.
    """
    with torch.no_grad():
        if pred.size(1) == 1:
            hit = (pred.squeeze(1) > 0).long() == target
        else:
            _, idx = pred.topk(topk, dim=1)
            hit = (idx == target.unsqueeze(1)).any(dim=1)
            if thresh is not None:
                hit &= pred.topk(topk, dim=1)[0].max(dim=1)[0] > thresh
        valid = target != ignore_index if ignore_index is not None else torch.ones_like(target, dtype=torch.bool)
        total = valid.sum()
        if total == 0:
            return pred.new_tensor(0.0)
        return (hit & valid).sum().float() * (100.0 / total)


@MODELS.register_module()
class Accuracy(nn.Module):
    """Module form of :func:`accuracy`."""

    def __init__(self, topk: int = 1, thresh: float | None = None, ignore_index: int | None = None) -> None:
        super().__init__()
        self.topk, self.thresh, self.ignore_index = topk, thresh, ignore_index

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return accuracy(pred, target, self.topk, self.thresh, self.ignore_index)
