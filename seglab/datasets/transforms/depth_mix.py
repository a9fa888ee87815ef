"""RandomDepthMix: CutDepth (Ishii & Yamashita, 2021, https://arxiv.org/abs/2107.07684), MMSeg 1.x's form.

With probability ``prob`` a vertical band of the image (every channel) is replaced by the ground-truth
depth in the file's units (``gt_depth_map / depth_rescale_factor``, e.g. millimetres for NYU). The band
starts at a random column ``left`` and is ``max(1, (W - left) * mix_scale_ratio * u)`` wide, u ~ U[0, 1).
Random draws use Python's ``random`` in MMSeg's order, so a seeded run picks the same bands. Integer
images saturate at their dtype's range (MMSeg's numpy cast wraps such values around).
"""

from __future__ import annotations

import random

import numpy as np

from seglab.registry import TRANSFORMS

__all__ = ["RandomDepthMix"]


@TRANSFORMS.register_module()
class RandomDepthMix:
    """Paste a random vertical band of ``gt_depth_map`` into ``img`` with probability ``prob``."""

    def __init__(self, prob: float = 0.25, mix_scale_ratio: float = 0.75) -> None:
        if not 0.0 <= prob <= 1.0:
            raise ValueError(f"RandomDepthMix: prob must be in [0, 1], got {prob}")
        if not 0.0 <= mix_scale_ratio <= 1.0:
            raise ValueError(f"RandomDepthMix: mix_scale_ratio must be in [0, 1], got {mix_scale_ratio}")
        self.prob = prob
        self.mix_scale_ratio = mix_scale_ratio

    def __call__(self, results: dict) -> dict:
        if random.random() > self.prob:
            return results
        if "gt_depth_map" not in results:
            raise KeyError("RandomDepthMix needs 'gt_depth_map': put LoadDepthAnnotation before it in the pipeline")
        img = results["img"]
        if img.ndim not in (2, 3):
            raise ValueError(f"RandomDepthMix: img must be (H, W) or (H, W, C), got shape {img.shape}")
        h, w = results.get("img_shape", img.shape)[:2]
        left = int(w * random.random())
        width = int(max(1, (w - left) * self.mix_scale_ratio * random.random()))
        depth = results["gt_depth_map"] / results.get("depth_rescale_factor", 1)
        if depth.shape[:2] != img.shape[:2]:
            raise ValueError(f"RandomDepthMix: gt_depth_map {depth.shape} and img {img.shape} differ in size; "
                             "put RandomDepthMix before transforms that move only one of them")
        band = depth[:, left : left + width]
        if np.issubdtype(img.dtype, np.integer):
            info = np.iinfo(img.dtype)
            band = np.clip(band, info.min, info.max)
        img = img.copy()
        img[:, left : left + width] = band[..., None] if img.ndim == 3 else band
        results["img"] = img
        return results

    def __repr__(self) -> str:
        return f"{type(self).__name__}(prob={self.prob}, mix_scale_ratio={self.mix_scale_ratio})"
