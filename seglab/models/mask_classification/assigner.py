"""One-to-one matching of queries to ground-truth masks (mmdet's ``HungarianAssigner`` and
``MaskPseudoSampler``)."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from ...registry import ConfigError
from ._registry import TASK_UTILS, build_mmdet
from .hungarian import linear_sum_assignment

__all__ = ["AssignResult", "HungarianAssigner", "MaskPseudoSampler", "SamplingResult"]


@dataclass
class AssignResult:
    """``gt_inds`` (Q,): 0 = background, k > 0 = matched to ground truth k - 1; ``labels`` (Q,): -1 if none."""

    num_gts: int
    gt_inds: torch.Tensor
    labels: torch.Tensor


@TASK_UTILS.register_module()
class HungarianAssigner:
    """Sum the weighted match costs and solve the assignment (every gt gets one query when Q >= G)."""

    def __init__(self, match_costs: dict | Sequence[dict]) -> None:
        if isinstance(match_costs, dict):
            match_costs = [match_costs]
        if not match_costs:
            raise ConfigError("HungarianAssigner: match_costs must not be empty")
        self.match_costs = [build_mmdet(c, TASK_UTILS) for c in match_costs]

    def assign(self, pred: dict[str, torch.Tensor], gt: dict[str, torch.Tensor],
               img_meta: dict | None = None) -> AssignResult:
        """Match the Q predictions to the G ground truths of one image."""
        labels = gt["labels"]
        num_gts, num_preds = labels.shape[0], pred["scores"].shape[0]
        device = labels.device
        gt_inds = torch.full((num_preds,), -1, dtype=torch.long, device=device)
        assigned_labels = torch.full((num_preds,), -1, dtype=torch.long, device=device)
        if num_gts == 0 or num_preds == 0:
            if num_gts == 0:
                gt_inds[:] = 0
            return AssignResult(num_gts, gt_inds, assigned_labels)
        cost = torch.stack([c(pred, gt, img_meta) for c in self.match_costs]).sum(0)
        rows, cols = linear_sum_assignment(cost.detach().cpu().double().numpy())
        rows_t = torch.from_numpy(rows).to(device)
        cols_t = torch.from_numpy(cols).to(device)
        gt_inds[:] = 0
        gt_inds[rows_t] = cols_t + 1
        assigned_labels[rows_t] = labels[cols_t]
        return AssignResult(num_gts, gt_inds, assigned_labels)


@dataclass
class SamplingResult:
    """Positive/negative query indices, the gt index of each positive, and mmdet's ``avg_factor``."""

    pos_inds: torch.Tensor
    neg_inds: torch.Tensor
    pos_assigned_gt_inds: torch.Tensor
    avg_factor: int


@TASK_UTILS.register_module()
class MaskPseudoSampler:
    """Takes every matched query as positive and every other as negative (no sampling)."""

    def __init__(self, **kwargs) -> None:
        if kwargs:
            raise ConfigError(f"MaskPseudoSampler takes no arguments, got {sorted(kwargs)}")

    def sample(self, assign_result: AssignResult) -> SamplingResult:
        """``avg_factor`` is the number of positives (at least 1), as mmdet's ``avg_factor_with_neg=False``."""
        pos = torch.nonzero(assign_result.gt_inds > 0, as_tuple=False).squeeze(-1).unique()
        neg = torch.nonzero(assign_result.gt_inds == 0, as_tuple=False).squeeze(-1).unique()
        return SamplingResult(pos, neg, assign_result.gt_inds[pos] - 1, max(pos.numel(), 1))
