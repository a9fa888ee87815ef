"""OhemCrossEntropy: cross entropy over the hard pixels only (online hard example mining), as used by
PIDNet and DDRNet (MMSeg's ``OhemCrossEntropy``, after "Training Region-based Object Detectors with
Online Hard Example Mining", https://arxiv.org/abs/1604.03540)."""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ...registry import MODELS
from .utils import get_class_weight

__all__ = ["OhemCrossEntropy"]


@MODELS.register_module()
class OhemCrossEntropy(nn.Module):
    """Mean cross entropy of the labelled pixels whose softmax probability of the true class is below
    ``max(thres, p_k)``, where ``p_k`` is the ``min_kept``-th smallest such probability (so at least
    ``min_kept`` pixels count when there are that many). ``class_weight`` weights each pixel's CE by its
    class (a list, or a .npy/.pkl path); the mean is the plain mean of the kept weighted losses (MMSeg).
    """

    def __init__(self, ignore_label: int = 255, thres: float = 0.7, min_kept: int = 100000,
                 loss_weight: float = 1.0, class_weight: Sequence[float] | str | None = None,
                 loss_name: str = "loss_ohem") -> None:
        super().__init__()
        self.thresh, self.min_kept, self.ignore_label = thres, max(1, min_kept), ignore_label
        self.loss_weight = loss_weight
        self.class_weight = get_class_weight(class_weight)
        self._loss_name = loss_name

    @property
    def loss_name(self) -> str:
        """The key of this loss in the losses dict."""
        return self._loss_name

    def forward(self, score: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None,
                ignore_index: int | None = None, **kwargs) -> torch.Tensor:
        """score: (N, C, H, W) logits, target: (N, H, W) labels -> scalar loss.

        ``ignore_index`` (given by the decode head) overrides ``ignore_label``; per-pixel ``weight`` is not
        supported (OHEM chooses its own pixels).
        """
        if weight is not None:
            raise ValueError("OhemCrossEntropy selects its own hard pixels; a per-pixel weight (e.g. from a "
                             "sampler) cannot be combined with it: remove the head's sampler")
        ignore = self.ignore_label if ignore_index is None else ignore_index
        class_weight = score.new_tensor(self.class_weight) if self.class_weight is not None else None
        pixel_losses = F.cross_entropy(score, target, weight=class_weight, ignore_index=ignore,
                                       reduction="none").reshape(-1)
        valid = target.reshape(-1) != ignore
        with torch.no_grad():
            prob = F.softmax(score, dim=1).gather(1, target.masked_fill(target == ignore, 0).unsqueeze(1))
            prob, order = prob.reshape(-1)[valid].sort()
        if prob.numel() == 0:
            return score.sum() * 0.0  # nothing labelled: zero, but still connected to the graph
        threshold = max(float(prob[min(self.min_kept, prob.numel() - 1)]), self.thresh)
        kept = pixel_losses[valid][order][prob < threshold]
        if kept.numel() == 0:
            return score.sum() * 0.0  # every pixel is easy (all probabilities equal the threshold)
        return self.loss_weight * kept.mean()
