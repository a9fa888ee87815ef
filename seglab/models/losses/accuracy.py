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
        elif topk == 1:
            # max over the class axis is ~5x cheaper than topk(1) on CPU maps (2% of a training step) and
            # picks the same class (the first of tied maxima).
            best, idx = pred.max(dim=1)
            hit = idx == target
            if thresh is not None:
                hit &= best > thresh
        else:
            best, idx = pred.topk(topk, dim=1)
            hit = (idx == target.unsqueeze(1)).any(dim=1)
            if thresh is not None:
                hit &= best.max(dim=1)[0] > thresh
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
