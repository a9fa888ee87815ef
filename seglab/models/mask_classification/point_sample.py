"""Point sampling of mask logits (MMCV's ``point_sample``, mmdet's ``get_uncertain_point_coords_with_randomness``)
used by Mask2Former's matching and losses instead of full-resolution masks."""
from __future__ import annotations

import torch
from torch.nn import functional as F

from ...registry import ConfigError

__all__ = ["get_uncertain_point_coords_with_randomness", "point_sample"]


def point_sample(input: torch.Tensor, points: torch.Tensor, align_corners: bool = False) -> torch.Tensor:  # noqa: A002
    """Bilinear samples of ``input`` (N, C, H, W) at ``points`` (N, P, 2) as (x, y) in [0, 1]: (N, C, P).

    ``points`` (N, Hp, Wp, 2) give (N, C, Hp, Wp). Outside the map reads zeros.
    """
    squeeze = points.dim() == 3
    if squeeze:
        points = points.unsqueeze(2)
    out = F.grid_sample(input, 2.0 * points - 1.0, mode="bilinear", padding_mode="zeros", align_corners=align_corners)
    return out.squeeze(3) if squeeze else out


def get_uncertain_point_coords_with_randomness(mask_preds: torch.Tensor, labels: torch.Tensor | None,
                                               num_points: int, oversample_ratio: float,
                                               importance_sample_ratio: float) -> torch.Tensor:
    """``num_points`` coords per mask (R, num_points, 2) in [0, 1]: the most uncertain (|logit| smallest) of
    ``num_points * oversample_ratio`` random points, topped up with fresh random points.

    mask_preds: (R, C, H, W) logits; with C > 1, ``labels`` (R,) pick the channel.
    """
    if oversample_ratio < 1:
        raise ConfigError(f"oversample_ratio must be >= 1, got {oversample_ratio}")
    if not 0 <= importance_sample_ratio <= 1:
        raise ConfigError(f"importance_sample_ratio must be in [0, 1], got {importance_sample_ratio}")
    batch = mask_preds.shape[0]
    num_sampled = int(num_points * oversample_ratio)
    coords = torch.rand(batch, num_sampled, 2, device=mask_preds.device)
    logits = point_sample(mask_preds, coords)
    if logits.shape[1] > 1:
        logits = logits[torch.arange(batch, device=mask_preds.device), labels].unsqueeze(1)
    uncertainty = -logits.abs()
    num_uncertain = int(importance_sample_ratio * num_points)
    idx = torch.topk(uncertainty[:, 0, :], k=num_uncertain, dim=1)[1]
    coords = torch.gather(coords, 1, idx.unsqueeze(-1).expand(-1, -1, 2))
    num_random = num_points - num_uncertain
    if num_random > 0:
        coords = torch.cat((coords, torch.rand(batch, num_random, 2, device=mask_preds.device)), dim=1)
    return coords
