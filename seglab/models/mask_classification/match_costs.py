"""Match costs of the Hungarian assigner (mmdet's ``ClassificationCost``, ``FocalLossCost``, ``DiceCost``,
``CrossEntropyLossCost``): each maps predictions (Q queries) and ground truths (G) to a (Q, G) cost.

``pred`` holds ``scores`` (Q, classes + 1) logits and ``masks`` (Q, ...) logits; ``gt`` holds ``labels``
(G,) and binary ``masks`` (G, ...) of the same spatial size.
"""
from __future__ import annotations

import torch
from torch.nn import functional as F

from ...registry import ConfigError
from ._registry import TASK_UTILS

__all__ = ["ClassificationCost", "CrossEntropyLossCost", "DiceCost", "FocalLossCost"]


class _MatchCost:
    def __init__(self, weight: float = 1.0) -> None:
        self.weight = weight

    def __call__(self, pred: dict[str, torch.Tensor], gt: dict[str, torch.Tensor],
                 img_meta: dict | None = None) -> torch.Tensor:
        raise NotImplementedError


@TASK_UTILS.register_module()
class ClassificationCost(_MatchCost):
    """-softmax(scores)[:, label] x weight."""

    def __call__(self, pred: dict[str, torch.Tensor], gt: dict[str, torch.Tensor],
                 img_meta: dict | None = None) -> torch.Tensor:
        """(Q, G) cost."""
        return -pred["scores"].softmax(-1)[:, gt["labels"]] * self.weight


@TASK_UTILS.register_module()
class FocalLossCost(_MatchCost):
    """Sigmoid focal-loss cost; ``binary_input=True`` compares masks (mean over pixels), else class scores."""

    def __init__(self, alpha: float = 0.25, gamma: float = 2.0, eps: float = 1e-12, binary_input: bool = False,
                 weight: float = 1.0) -> None:
        super().__init__(weight)
        self.alpha, self.gamma, self.eps, self.binary_input = alpha, gamma, eps, binary_input

    def _terms(self, logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        prob = logits.sigmoid()
        neg = -(1 - prob + self.eps).log() * (1 - self.alpha) * prob.pow(self.gamma)
        pos = -(prob + self.eps).log() * self.alpha * (1 - prob).pow(self.gamma)
        return pos, neg

    def __call__(self, pred: dict[str, torch.Tensor], gt: dict[str, torch.Tensor],
                 img_meta: dict | None = None) -> torch.Tensor:
        """(Q, G) cost."""
        if self.binary_input:
            pos, neg = self._terms(pred["masks"].flatten(1))
            target = gt["masks"].flatten(1).float()
            cost = pos @ target.T + neg @ (1 - target).T
            return cost / pos.shape[1] * self.weight
        pos, neg = self._terms(pred["scores"])
        labels = gt["labels"]
        return (pos[:, labels] - neg[:, labels]) * self.weight


@TASK_UTILS.register_module()
class DiceCost(_MatchCost):
    """1 - Dice between every predicted and ground-truth mask (sigmoid first with ``pred_act``)."""

    def __init__(self, pred_act: bool = False, eps: float = 1e-3, naive_dice: bool = True,
                 weight: float = 1.0) -> None:
        super().__init__(weight)
        self.pred_act, self.eps, self.naive_dice = pred_act, eps, naive_dice

    def __call__(self, pred: dict[str, torch.Tensor], gt: dict[str, torch.Tensor],
                 img_meta: dict | None = None) -> torch.Tensor:
        """(Q, G) cost."""
        masks = pred["masks"].sigmoid() if self.pred_act else pred["masks"]
        masks = masks.flatten(1)
        target = gt["masks"].flatten(1).float()
        numerator = 2 * masks @ target.T
        if self.naive_dice:
            denominator = masks.sum(-1)[:, None] + target.sum(-1)[None, :]
        else:
            denominator = masks.pow(2).sum(1)[:, None] + target.pow(2).sum(1)[None, :]
        return (1 - (numerator + self.eps) / (denominator + self.eps)) * self.weight


@TASK_UTILS.register_module()
class CrossEntropyLossCost(_MatchCost):
    """Mean binary cross entropy (with logits) between every predicted and ground-truth mask."""

    def __init__(self, use_sigmoid: bool = True, weight: float = 1.0) -> None:
        super().__init__(weight)
        if not use_sigmoid:
            raise ConfigError("CrossEntropyLossCost: only use_sigmoid=True exists (as in mmdet)")
        self.use_sigmoid = use_sigmoid

    def __call__(self, pred: dict[str, torch.Tensor], gt: dict[str, torch.Tensor],
                 img_meta: dict | None = None) -> torch.Tensor:
        """(Q, G) cost."""
        logits = pred["masks"].flatten(1).float()
        target = gt["masks"].flatten(1).float()
        pos = F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits), reduction="none")
        neg = F.binary_cross_entropy_with_logits(logits, torch.zeros_like(logits), reduction="none")
        cost = pos @ target.T + neg @ (1 - target).T
        return cost / logits.shape[1] * self.weight
