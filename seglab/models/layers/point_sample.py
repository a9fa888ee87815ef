"""Point sampling of logit maps (MMCV's ``point_sample``) and uncertainty-guided point selection (PointRend's
``get_points_train``, mmdet's ``get_uncertain_point_coords_with_randomness``), used by PointRend's point head
and by Mask2Former's matching and losses instead of full-resolution maps."""
from __future__ import annotations

from collections.abc import Callable

import torch
from torch.nn import functional as F

from ...registry import ConfigError

__all__ = ["get_uncertain_point_coords_with_randomness", "point_sample", "sample_uncertain_points"]


def point_sample(input: torch.Tensor, points: torch.Tensor, align_corners: bool = False,  # noqa: A002
                 mode: str = "bilinear") -> torch.Tensor:
    """Samples of ``input`` (N, C, H, W) at ``points`` (N, P, 2) as (x, y) in [0, 1]: (N, C, P).

    ``points`` (N, Hp, Wp, 2) give (N, C, Hp, Wp). ``mode`` is grid_sample's ('bilinear' or 'nearest').
    Outside the map reads zeros.
    """
    squeeze = points.dim() == 3
    if squeeze:
        points = points.unsqueeze(2)
    out = F.grid_sample(input, 2.0 * points - 1.0, mode=mode, padding_mode="zeros", align_corners=align_corners)
    return out.squeeze(3) if squeeze else out


def sample_uncertain_points(logits: torch.Tensor, uncertainty: Callable[[torch.Tensor], torch.Tensor],
                            num_points: int, oversample_ratio: float,
                            importance_sample_ratio: float) -> torch.Tensor:
    """``num_points`` coords per map (N, num_points, 2) in [0, 1]: the ``importance_sample_ratio`` share most
    uncertain of ``num_points * oversample_ratio`` random points, topped up with fresh random points.

    logits: (N, C, H, W). ``uncertainty`` maps sampled logits (N, C, P) to scores (N, 1, P), higher meaning
    more uncertain; it is applied to the sampled logits, not sampled from a map of scores, so a point between
    two confident pixels of opposite sign counts as uncertain.
    """
    if oversample_ratio < 1:
        raise ConfigError(f"oversample_ratio must be >= 1, got {oversample_ratio}")
    if not 0 <= importance_sample_ratio <= 1:
        raise ConfigError(f"importance_sample_ratio must be in [0, 1], got {importance_sample_ratio}")
    batch = logits.shape[0]
    num_sampled = int(num_points * oversample_ratio)
    coords = torch.rand(batch, num_sampled, 2, device=logits.device)
    scores = uncertainty(point_sample(logits, coords))
    num_uncertain = int(importance_sample_ratio * num_points)
    idx = torch.topk(scores[:, 0, :], k=num_uncertain, dim=1)[1]
    coords = torch.gather(coords, 1, idx.unsqueeze(-1).expand(-1, -1, 2))
    num_random = num_points - num_uncertain
    if num_random > 0:
        coords = torch.cat((coords, torch.rand(batch, num_random, 2, device=logits.device)), dim=1)
    return coords


def get_uncertain_point_coords_with_randomness(mask_preds: torch.Tensor, labels: torch.Tensor | None,
                                               num_points: int, oversample_ratio: float,
                                               importance_sample_ratio: float) -> torch.Tensor:
    """:func:`sample_uncertain_points` for mask logits (R, C, H, W), uncertainty ``-|logit|``: (R, num_points, 2).

    With C > 1, ``labels`` (R,) pick the channel whose logit counts.
    """
    def minus_abs(point_logits: torch.Tensor) -> torch.Tensor:
        if point_logits.shape[1] > 1:
            rows = torch.arange(point_logits.shape[0], device=point_logits.device)
            point_logits = point_logits[rows, labels].unsqueeze(1)
        return -point_logits.abs()

    return sample_uncertain_points(mask_preds, minus_abs, num_points, oversample_ratio, importance_sample_ratio)
