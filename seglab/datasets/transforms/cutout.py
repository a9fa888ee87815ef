"""RandomCutOut: blank random rectangles of the image (and optionally the masks), as in
`Cutout <https://arxiv.org/abs/1708.04552>`_.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from seglab.registry import TRANSFORMS

from .geometric import seg_keys

__all__ = ["RandomCutOut"]


@TRANSFORMS.register_module()
class RandomCutOut:
    """With probability ``prob`` fill ``n_holes`` rectangles (an int, or a (min, max) tuple drawn
    inclusively) with ``fill_in``; masks get ``seg_fill_in`` there, or are left alone when None.

    Each hole's top-left corner is uniform over the image; its size comes from ``cutout_shape``
    ((w, h) pixels) or ``cutout_ratio`` ((w, h) fractions of the image), each a pair or a list of
    pairs to pick from. Holes are clipped at the right/bottom border.
    """

    def __init__(
        self,
        prob: float,
        n_holes: int | tuple[int, int],
        cutout_shape: tuple[int, int] | list[tuple[int, int]] | None = None,
        cutout_ratio: tuple[float, float] | list[tuple[float, float]] | None = None,
        fill_in: float | Sequence[float] = (0, 0, 0),
        seg_fill_in: int | None = None,
    ) -> None:
        if not 0 <= prob <= 1:
            raise ValueError(f"RandomCutOut: prob must be in [0, 1], got {prob}")
        if (cutout_shape is None) == (cutout_ratio is None):
            raise ValueError("RandomCutOut: set exactly one of cutout_shape (w, h) and cutout_ratio (w, h)")
        candidates = cutout_ratio if cutout_shape is None else cutout_shape
        if not isinstance(candidates, (list, tuple)):
            raise TypeError(
                f"RandomCutOut: cutout_shape/cutout_ratio must be a pair or a list of pairs, got {candidates!r}"
            )
        if isinstance(n_holes, tuple):
            if len(n_holes) != 2 or not 0 <= n_holes[0] < n_holes[1]:
                raise ValueError(
                    f"RandomCutOut: n_holes as a tuple must be (min, max) with 0 <= min < max, got {n_holes}"
                )
        else:
            n_holes = (int(n_holes), int(n_holes))
        if seg_fill_in is not None and not (isinstance(seg_fill_in, int) and 0 <= seg_fill_in <= 255):
            raise ValueError(f"RandomCutOut: seg_fill_in must be None or an int in 0..255, got {seg_fill_in!r}")
        self.prob = prob
        self.n_holes = n_holes
        self.fill_in = fill_in
        self.seg_fill_in = seg_fill_in
        self.with_ratio = cutout_ratio is not None
        self.candidates = list(candidates) if isinstance(candidates, list) else [candidates]

    def generate_patches(self, h: int, w: int) -> list[tuple[int, int, int, int]]:
        """Random holes (y1, y2, x1, x2) for an (h, w) image; empty when cutout is skipped."""
        if not np.random.rand() < self.prob:
            return []
        n = int(np.random.randint(self.n_holes[0], self.n_holes[1] + 1))
        holes = []
        for _ in range(n):
            x1, y1 = int(np.random.randint(0, w)), int(np.random.randint(0, h))
            cw, ch = self.candidates[int(np.random.randint(0, len(self.candidates)))]
            if self.with_ratio:
                cw, ch = int(cw * w), int(ch * h)
            holes.append((y1, min(y1 + int(ch), h), x1, min(x1 + int(cw), w)))
        return holes

    def __call__(self, results: dict) -> dict:
        h, w = results["img"].shape[:2]
        holes = self.generate_patches(h, w)
        if not holes:
            return results
        # Write into copies: the arrays may be views shared with an earlier step or a cache.
        img = results["img"].copy()
        masks = {k: results[k].copy() for k in seg_keys(results)} if self.seg_fill_in is not None else {}
        for y1, y2, x1, x2 in holes:
            img[y1:y2, x1:x2, ...] = self.fill_in
            for mask in masks.values():
                mask[y1:y2, x1:x2] = self.seg_fill_in
        results["img"] = img
        results.update(masks)
        return results

    def __repr__(self) -> str:
        size = "cutout_ratio" if self.with_ratio else "cutout_shape"
        return (
            f"{type(self).__name__}(prob={self.prob}, n_holes={self.n_holes}, {size}={self.candidates}, "
            f"fill_in={self.fill_in}, seg_fill_in={self.seg_fill_in})"
        )
