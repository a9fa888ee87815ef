"""BoundaryLoss: class-balanced binary cross entropy on boundary logits (PIDNet's boundary loss,
https://arxiv.org/abs/2206.02066; MMSeg's ``BoundaryLoss``)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ...registry import MODELS

__all__ = ["BoundaryLoss"]


@MODELS.register_module()
class BoundaryLoss(nn.Module):
    """BCE-with-logits where boundary pixels (label 1) weigh #non-boundary / #labelled and non-boundary
    pixels (label 0) weigh #boundary / #labelled, averaged over all pixels of the batch. Pixels whose
    label is neither 0 nor 1 (e.g. 255) weigh 0."""

    def __init__(self, loss_weight: float = 1.0, loss_name: str = "loss_boundary") -> None:
        super().__init__()
        self.loss_weight = loss_weight
        self._loss_name = loss_name

    @property
    def loss_name(self) -> str:
        """The key of this loss in the losses dict."""
        return self._loss_name

    def forward(self, bd_pre: torch.Tensor, bd_gt: torch.Tensor, weight: torch.Tensor | None = None,
                ignore_index: int | None = None, **kwargs) -> torch.Tensor:
        """bd_pre: (N, 1, H, W) logits, bd_gt: (N, H, W) 0/1 labels -> scalar loss.

        ``ignore_index`` needs no handling (only labels 0 and 1 carry weight); per-pixel ``weight`` is not
        supported.
        """
        if weight is not None:
            raise ValueError("BoundaryLoss balances its own pixel weights; remove the head's sampler")
        if bd_pre.shape[1] != 1:
            raise ValueError(f"BoundaryLoss needs one boundary logit channel, got {bd_pre.shape[1]}")
        logits = bd_pre.reshape(-1)
        target = bd_gt.reshape(-1).to(logits.dtype)
        pos, neg = target == 1, target == 0
        total = (pos.sum() + neg.sum()).clamp(min=1).to(logits.dtype)
        pixel_weight = pos * (neg.sum() / total) + neg * (pos.sum() / total)
        target = torch.where(pos | neg, target, torch.zeros_like(target))
        loss = F.binary_cross_entropy_with_logits(logits, target, pixel_weight.to(logits.dtype), reduction="mean")
        return self.loss_weight * loss
