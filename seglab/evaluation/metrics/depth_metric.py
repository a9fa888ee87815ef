"""DepthMetric: MMSeg's monocular-depth metric set (Eigen et al. 2014), averaged over images.

Per image, over the pixels whose ground truth lies in (``min_depth_eval``, ``max_depth_eval``) (and
inside the NYU crop for ``crop_type='nyu_crop'``): threshold accuracies d1/d2/d3 (max(gt/pred,
pred/gt) < 1.25, 1.25^2, 1.25^3), abs_rel, sq_rel, rmse, rmse_log, log10 and silog; the reported
value is the mean of the per-image values, as in MMSeg 1.x (raw fractions and metres, not percent).
"""

from __future__ import annotations

import copy
import logging
import os
import os.path as osp
import warnings
from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np
import torch
import torch.distributed as dist

from seglab.registry import METRICS, ConfigError

from ...unused_arguments import warn_unused
from .iou_metric import _field, _meta, format_table

__all__ = ["DepthMetric", "depth_metrics"]

logger = logging.getLogger("seglab")

METRIC_NAMES = ("d1", "d2", "d3", "abs_rel", "sq_rel", "rmse", "rmse_log", "log10", "silog")
CROP_TYPES = (None, "nyu_crop")
# Eigen's NYU-v2 evaluation crop of the 480 x 640 frames: rows 45..470, columns 41..600.
NYU_CROP = (slice(45, 471), slice(41, 601))


def depth_metrics(gt: torch.Tensor, pred: torch.Tensor) -> dict[str, float]:
    """All of MMSeg's depth metrics of one image's valid pixels: ``gt`` and ``pred`` are 1-D, positive."""
    if gt.shape != pred.shape:
        raise ValueError(f"depth_metrics: gt {tuple(gt.shape)} and pred {tuple(pred.shape)} differ in shape")
    ratio = torch.maximum(gt / pred, pred / gt)
    diff = pred - gt
    diff_log = torch.log(pred) - torch.log(gt)
    return {
        "d1": (ratio < 1.25).float().mean().item(),
        "d2": (ratio < 1.25**2).float().mean().item(),
        "d3": (ratio < 1.25**3).float().mean().item(),
        "abs_rel": (diff.abs() / gt).mean().item(),
        "sq_rel": (diff.pow(2) / gt).mean().item(),
        "rmse": diff.pow(2).mean().sqrt().item(),
        "rmse_log": diff_log.pow(2).mean().sqrt().item(),
        "log10": (torch.log10(pred) - torch.log10(gt)).abs().mean().item(),
        "silog": (diff_log.pow(2).mean() - 0.5 * diff_log.mean().pow(2)).sqrt().item(),
    }


@METRICS.register_module()
class DepthMetric:
    """Depth metrics of ``pred_depth_map`` against ``gt_depth_map``, the mean over all evaluated images.

    Per-image values are summed as they come (and all-reduced across ranks), so memory does not grow
    with the dataset. ``output_dir`` writes each prediction times ``depth_scale_factor`` as a 16-bit PNG.
    """

    default_prefix: str | None = None
    METRICS = METRIC_NAMES

    def __init__(
        self,
        depth_metrics: Sequence[str] | None = None,
        min_depth_eval: float = 0.0,
        max_depth_eval: float = float("inf"),
        crop_type: str | None = None,
        depth_scale_factor: float = 1.0,
        collect_device: str = "cpu",
        output_dir: str | None = None,
        format_only: bool = False,
        prefix: str | None = None,
    ) -> None:
        names = list(METRIC_NAMES) if depth_metrics is None else (
            [depth_metrics] if isinstance(depth_metrics, str) else list(depth_metrics))
        bad = [m for m in names if m not in METRIC_NAMES]
        if bad:
            raise ConfigError(f"DepthMetric: unknown depth_metrics {bad}; choose from {list(METRIC_NAMES)}")
        if crop_type not in CROP_TYPES:
            raise ConfigError(f"DepthMetric: crop_type must be None or 'nyu_crop', got {crop_type!r}")
        if not min_depth_eval < max_depth_eval:
            raise ConfigError(f"DepthMetric: min_depth_eval ({min_depth_eval}) must be below max_depth_eval "
                              f"({max_depth_eval})")
        if collect_device not in ("cpu", "gpu"):
            raise ConfigError(f"DepthMetric: collect_device must be 'cpu' or 'gpu', got {collect_device!r}")
        warn_unused("DepthMetric", collect_device=collect_device)
        if format_only and not output_dir:
            raise ConfigError("DepthMetric: format_only=True writes predictions only; set output_dir")
        self.metrics = names
        self.min_depth_eval = min_depth_eval
        self.max_depth_eval = max_depth_eval
        self.crop_type = crop_type
        self.depth_scale_factor = depth_scale_factor
        self.collect_device = collect_device
        self.output_dir = output_dir
        if output_dir:
            os.makedirs(output_dir, exist_ok=True)
        self.format_only = format_only
        self.prefix = prefix or self.default_prefix
        self._dataset_meta: dict | None = None
        self.reset()

    @property
    def dataset_meta(self) -> dict | None:
        """Dataset meta information (not needed by this metric; kept for the evaluator)."""
        return self._dataset_meta

    @dataset_meta.setter
    def dataset_meta(self, meta: dict | None) -> None:
        self._dataset_meta = copy.deepcopy(dict(meta)) if meta is not None else None

    def reset(self) -> None:
        """Forget everything accumulated so far."""
        self.sums = torch.zeros(len(METRIC_NAMES), dtype=torch.float64)
        self.num_images = 0  # images that had pixels to evaluate
        self.num_samples = 0

    def eval_mask(self, gt: torch.Tensor) -> torch.Tensor:
        """Pixels of a ground-truth map (H, W) that are evaluated: inside the depth range and the crop."""
        mask = (gt > self.min_depth_eval) & (gt < self.max_depth_eval)
        if self.crop_type == "nyu_crop":
            crop = torch.zeros_like(mask)
            crop[NYU_CROP] = True
            mask &= crop
        return mask

    def process(self, data_batch: Any, data_samples: Sequence[Any]) -> None:
        """Add each sample's metrics of ``pred_depth_map`` (1, H, W) against ``gt_depth_map`` (1, H, W)."""
        for sample in data_samples:
            pred = _field(sample, "pred_depth_map")
            if pred is None:
                raise ValueError("DepthMetric.process: a data sample has no pred_depth_map (use a DepthEstimator)")
            pred = pred.squeeze()
            self.num_samples += 1
            if self.output_dir:
                self._write_png(sample, pred)
            if self.format_only:
                continue
            gt = _field(sample, "gt_depth_map")
            if gt is None:
                raise ValueError("DepthMetric.process: a data sample has no gt_depth_map; use format_only=True "
                                 "with output_dir to only write predictions")
            gt = gt.squeeze().to(pred)
            if gt.shape != pred.shape:
                raise ValueError(f"DepthMetric: prediction shape {tuple(pred.shape)} != ground truth {tuple(gt.shape)}")
            mask = self.eval_mask(gt)
            if not mask.any():
                # MMSeg would average NaNs into every metric; one image without valid depth is left out instead.
                warnings.warn(f"DepthMetric: {_meta(sample, 'img_path', 'an image')} has no ground-truth depth in "
                              f"({self.min_depth_eval}, {self.max_depth_eval}); it is left out", stacklevel=2)
                continue
            values = depth_metrics(gt[mask], pred[mask])
            self.sums += torch.tensor([values[k] for k in METRIC_NAMES], dtype=torch.float64)
            self.num_images += 1

    def _write_png(self, sample: Any, pred: torch.Tensor) -> None:
        img_path = _meta(sample, "img_path")
        if not img_path:
            raise ValueError("DepthMetric: output_dir needs 'img_path' in each sample's metainfo to name the file")
        depth = pred.detach().cpu().numpy() * self.depth_scale_factor
        name = osp.splitext(osp.basename(img_path))[0] + ".png"
        cv2.imwrite(osp.abspath(osp.join(self.output_dir, name)), np.clip(depth, 0, 65535).astype(np.uint16),
                    [cv2.IMWRITE_PNG_COMPRESSION, 0])

    def compute_metrics(self, sums: torch.Tensor, num_images: int) -> dict[str, float]:
        """The selected metrics: per-image ``sums`` (in METRICS order) over ``num_images``."""
        if self.format_only:
            logger.info("DepthMetric: format_only=True, predictions written to %s", self.output_dir)
            return {}
        means = (sums / num_images).tolist() if num_images else [float("nan")] * len(METRIC_NAMES)
        results = {k: v for k, v in zip(METRIC_NAMES, means) if k in self.metrics}
        logger.info("depth results over %d images:\n%s", num_images,
                    format_table(list(results), [[f"{v:.5f}" for v in results.values()]]))
        return results

    def evaluate(self, size: int | None = None) -> dict[str, float]:
        """All-reduce the per-image sums over ranks, compute the means, add ``prefix`` and reset."""
        sums = self.sums.clone()
        counts = torch.tensor([self.num_images, self.num_samples], dtype=torch.float64)
        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            device = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else "cpu"
            both = torch.cat([sums, counts]).to(device)
            dist.all_reduce(both)
            sums, counts = both[: len(METRIC_NAMES)].cpu(), both[len(METRIC_NAMES):].cpu()
        num_images, total = int(counts[0]), int(counts[1])
        if total == 0:
            warnings.warn("DepthMetric.evaluate: no samples were processed; metrics are NaN", stacklevel=2)
        elif size is not None and total > size:
            warnings.warn(f"DepthMetric.evaluate: {total} samples processed for a dataset of {size}; the sampler "
                          "repeated samples (use a sampler without round-up padding for exact metrics)", stacklevel=2)
        metrics = self.compute_metrics(sums, num_images)
        if self.prefix:
            metrics = {f"{self.prefix}/{k}": v for k, v in metrics.items()}
        self.reset()
        return metrics
