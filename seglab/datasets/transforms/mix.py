"""RandomMosaic: paste four samples around a random centre into one 2x-sized image (with MultiImageMixDataset)."""
from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import numpy as np

from seglab.registry import TRANSFORMS

from .geometric import imresize, seg_keys

__all__ = ["RandomMosaic"]

_CORNERS = ("top_left", "top_right", "bottom_left", "bottom_right")


@TRANSFORMS.register_module()
class RandomMosaic:
    """With probability ``prob``, combine ``results`` and the 3 samples in ``results['mix_results']``.

    The output is (2*h, 2*w) for ``img_scale`` = (h, w) (MMSeg's order). Each sample is resized
    (keeping its ratio) to fit ``img_scale`` and placed in one quadrant around a centre drawn from
    ``center_ratio_range`` * img_scale; what falls outside is cropped, uncovered pixels get
    ``pad_val`` (image) and ``seg_pad_val`` (every mask in ``seg_fields``). Use it inside
    ``MultiImageMixDataset``, which calls ``get_indices`` to fetch the extra samples.
    """

    def __init__(
        self,
        prob: float,
        img_scale: tuple[int, int] = (640, 640),
        center_ratio_range: tuple[float, float] = (0.5, 1.5),
        pad_val: float = 0,
        seg_pad_val: int = 255,
    ) -> None:
        if not 0 <= prob <= 1:
            raise ValueError(f"RandomMosaic: prob must be in [0, 1], got {prob}")
        if len(img_scale) != 2 or min(img_scale) <= 0:
            raise ValueError(f"RandomMosaic: img_scale must be a positive (h, w) pair, got {img_scale!r}")
        if len(center_ratio_range) != 2 or center_ratio_range[0] > center_ratio_range[1]:
            raise ValueError(f"RandomMosaic: center_ratio_range must be (min, max), got {center_ratio_range!r}")
        self.prob = prob
        self.img_scale = (int(img_scale[0]), int(img_scale[1]))
        self.center_ratio_range = tuple(center_ratio_range)
        self.pad_val = pad_val
        self.seg_pad_val = seg_pad_val

    def get_indices(self, dataset: Any) -> list[int]:
        """Three random sample indices in [0, len(dataset)) (MMSeg's inclusive upper bound is a bug)."""
        return [int(i) for i in np.random.randint(0, len(dataset), size=3)]

    def _center(self) -> tuple[int, int]:
        lo, hi = self.center_ratio_range
        cx = int(np.random.uniform(lo, hi) * self.img_scale[1])
        cy = int(np.random.uniform(lo, hi) * self.img_scale[0])
        return cx, cy

    def _boxes(self, corner: str, center: tuple[int, int], w: int, h: int) -> tuple[tuple, tuple]:
        """Paste box (x1, y1, x2, y2) in the mosaic and the matching crop box in a (h, w) patch."""
        cx, cy = center
        out_h, out_w = 2 * self.img_scale[0], 2 * self.img_scale[1]
        # Clamp the centre into the canvas: a centre ratio > 2 would otherwise give negative boxes.
        cx, cy = min(max(cx, 0), out_w), min(max(cy, 0), out_h)
        left = corner.endswith("left")
        top = corner.startswith("top")
        x1, x2 = (max(cx - w, 0), cx) if left else (cx, min(cx + w, out_w))
        y1, y2 = (max(cy - h, 0), cy) if top else (cy, min(cy + h, out_h))
        # Left/top patches keep their right/bottom part (the side touching the centre).
        cx1 = w - (x2 - x1) if left else 0
        cy1 = h - (y2 - y1) if top else 0
        return (x1, y1, x2, y2), (cx1, cy1, cx1 + (x2 - x1), cy1 + (y2 - y1))

    def _fit(self, arr: np.ndarray, interpolation: str) -> np.ndarray:
        h, w = arr.shape[:2]
        ratio = min(self.img_scale[0] / h, self.img_scale[1] / w)
        return imresize(arr, (max(int(w * ratio), 1), max(int(h * ratio), 1)), interpolation)

    def __call__(self, results: dict) -> dict:
        if np.random.rand() >= self.prob:
            return results
        mix = results.get("mix_results")
        if not isinstance(mix, Sequence) or len(mix) < 3:
            raise ValueError(
                "RandomMosaic needs results['mix_results'] with 3 extra samples; use it inside "
                "dataset=dict(type='MultiImageMixDataset', pipeline=[dict(type='RandomMosaic', ...)])"
            )
        patches = [results] + [mix[i] for i in range(3)]
        center = self._center()
        out_hw = (2 * self.img_scale[0], 2 * self.img_scale[1])
        img0 = results["img"]
        mosaic = np.full(out_hw + img0.shape[2:], self.pad_val, dtype=img0.dtype)
        keys = seg_keys(results)
        segs = {k: np.full(out_hw, self.seg_pad_val, dtype=results[k].dtype) for k in keys}
        for corner, patch in zip(_CORNERS, patches):
            img = self._fit(patch["img"], "bilinear")
            if img.shape[2:] != img0.shape[2:]:
                raise ValueError(f"RandomMosaic: samples have different channel counts {img.shape} vs {img0.shape}")
            h, w = img.shape[:2]
            (x1, y1, x2, y2), (a1, b1, a2, b2) = self._boxes(corner, center, w, h)
            mosaic[y1:y2, x1:x2] = img[b1:b2, a1:a2]
            for k in keys:
                if patch.get(k) is None:
                    raise KeyError(f"RandomMosaic: a mixed sample has no '{k}' (check the dataset's pipeline)")
                seg = self._fit(patch[k], "nearest")
                if seg.shape[:2] != (h, w):
                    raise ValueError(f"RandomMosaic: '{k}' of shape {seg.shape[:2]} is not aligned with its image {(h, w)}")
                segs[k][y1:y2, x1:x2] = seg[b1:b2, a1:a2]
        results = copy.copy(results)
        results["img"] = mosaic
        results.update(segs)
        results["img_shape"] = out_hw
        results["ori_shape"] = out_hw
        return results

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(prob={self.prob}, img_scale={self.img_scale}, "
            f"center_ratio_range={self.center_ratio_range}, pad_val={self.pad_val}, seg_pad_val={self.seg_pad_val})"
        )
