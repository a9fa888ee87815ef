"""OHEMPixelSampler: online hard example mining that weights only the hardest pixels of a batch."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ...registry import MODELS, ConfigError

__all__ = ["OHEMPixelSampler"]


@MODELS.register_module()
class OHEMPixelSampler:
    """Pick hard pixels for the loss: those with ground-truth probability below ``thresh`` (at least
    ``min_kept`` per image), or without ``thresh`` the ``min_kept`` per image with the highest loss.

    ``context`` is the decode head (its ``ignore_index`` and ``loss_decode`` are used).
    """

    def __init__(self, context: nn.Module, thresh: float | None = None, min_kept: int = 100000) -> None:
        if min_kept <= 1:
            raise ConfigError(f"OHEMPixelSampler: min_kept must be > 1, got {min_kept}")
        self.context, self.thresh, self.min_kept = context, thresh, min_kept

    def sample(self, seg_logit: torch.Tensor, seg_label: torch.Tensor) -> torch.Tensor:
        """Pixel weights (N, H, W) in {0, 1} for logits (N, C, H, W) and labels (N, 1, H, W)."""
        with torch.no_grad():
            if seg_logit.shape[2:] != seg_label.shape[2:] or seg_label.shape[1] != 1:
                raise ValueError(
                    f"OHEMPixelSampler: logits {tuple(seg_logit.shape)} and labels "
                    f"{tuple(seg_label.shape)} must be (N, C, H, W) and (N, 1, H, W)"
                )
            ignore_index = self.context.ignore_index
            label = seg_label.squeeze(1).long()
            batch_kept = self.min_kept * label.size(0)
            valid = label != ignore_index
            weight = seg_logit.new_zeros(label.shape)
            valid_weight = weight[valid]
            if self.thresh is not None:
                prob = F.softmax(seg_logit, dim=1)
                prob = prob.gather(1, label.masked_fill(~valid, 0).unsqueeze(1)).squeeze(1)
                valid_prob = prob[valid]
                sorted_prob, _ = valid_prob.sort()
                # Raise the threshold so at least batch_kept pixels are kept.
                min_threshold = sorted_prob[min(batch_kept, sorted_prob.numel() - 1)] if sorted_prob.numel() else 0.0
                threshold = max(float(min_threshold), self.thresh)
                valid_weight[valid_prob < threshold] = 1.0
            else:
                losses = 0.0
                for loss_module in self.context.losses_iter():
                    losses = losses + loss_module(
                        seg_logit, label, weight=None, ignore_index=ignore_index, reduction_override="none"
                    )
                _, order = losses[valid].sort(descending=True)
                valid_weight[order[:batch_kept]] = 1.0
            weight[valid] = valid_weight
            return weight
