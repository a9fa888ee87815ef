"""Deterministic intensity transforms of ``results['img']`` (gamma, CLAHE, range, grey): masks and
geometry are never touched.
"""
from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from seglab.registry import TRANSFORMS

__all__ = ["CLAHE", "AdjustGamma", "RGB2Gray", "Rerange"]


def _as_uint8(img: np.ndarray) -> np.ndarray:
    """``img`` as uint8 (float images are clipped to 0..255 first, as cv2 needs 8-bit input here)."""
    if img.dtype == np.uint8:
        return img
    return np.clip(img, 0, 255).astype(np.uint8)


@TRANSFORMS.register_module()
class AdjustGamma:
    """Gamma correction with a lookup table: ``v -> floor(255 * (v / 255) ** (1 / gamma))`` (uint8 out)."""

    def __init__(self, gamma: float = 1.0) -> None:
        if not isinstance(gamma, (int, float)) or gamma <= 0:
            raise ValueError(f"AdjustGamma: gamma must be a positive number, got {gamma!r}")
        self.gamma = gamma
        self.table = ((np.arange(256) / 255.0) ** (1.0 / gamma) * 255).astype(np.uint8)

    def __call__(self, results: dict) -> dict:
        img = _as_uint8(results["img"])
        out = cv2.LUT(img, self.table)
        results["img"] = out.reshape(img.shape)  # cv2 may drop a trailing channel axis of size 1
        return results

    def __repr__(self) -> str:
        return f"{type(self).__name__}(gamma={self.gamma})"


@TRANSFORMS.register_module()
class CLAHE:
    """Contrast Limited Adaptive Histogram Equalization (Zuiderveld 1994) applied to each channel.

    ``clip_limit`` caps each tile's histogram; ``tile_grid_size`` is the (rows, cols) tile grid.
    Channels are processed as uint8; the image keeps its dtype and shape.
    """

    def __init__(self, clip_limit: float = 40.0, tile_grid_size: tuple[int, int] = (8, 8)) -> None:
        if not isinstance(clip_limit, (int, float)):
            raise TypeError(f"CLAHE: clip_limit must be a number, got {clip_limit!r}")
        if len(tile_grid_size) != 2 or not all(isinstance(t, int) and t > 0 for t in tile_grid_size):
            raise ValueError(f"CLAHE: tile_grid_size must be two positive ints, got {tile_grid_size!r}")
        self.clip_limit = clip_limit
        self.tile_grid_size = tuple(tile_grid_size)

    def __call__(self, results: dict) -> dict:
        img = results["img"]
        clahe = cv2.createCLAHE(float(self.clip_limit), self.tile_grid_size)
        planes = img[..., None] if img.ndim == 2 else img
        out = np.stack([clahe.apply(_as_uint8(planes[..., c])) for c in range(planes.shape[2])], -1)
        results["img"] = out.reshape(img.shape).astype(img.dtype)
        return results

    def __repr__(self) -> str:
        return f"{type(self).__name__}(clip_limit={self.clip_limit}, tile_grid_size={self.tile_grid_size})"


@TRANSFORMS.register_module()
class Rerange:
    """Linearly map the image's own [min, max] onto [``min_value``, ``max_value``] (float64 out)."""

    def __init__(self, min_value: float = 0, max_value: float = 255) -> None:
        if not isinstance(min_value, (int, float)) or not isinstance(max_value, (int, float)):
            raise TypeError(f"Rerange: min_value and max_value must be numbers, got {min_value!r}, {max_value!r}")
        if min_value >= max_value:
            raise ValueError(f"Rerange: min_value ({min_value}) must be < max_value ({max_value})")
        self.min_value = min_value
        self.max_value = max_value

    def __call__(self, results: dict) -> dict:
        img = results["img"].astype(np.float64)
        lo, hi = img.min(), img.max()
        if lo >= hi:
            raise ValueError(
                f"Rerange: image {results.get('img_path', '<array>')} is constant ({lo}); "
                "its range cannot be stretched — drop Rerange or filter such images"
            )
        img = (img - lo) / (hi - lo)
        results["img"] = img * (self.max_value - self.min_value) + self.min_value
        return results

    def __repr__(self) -> str:
        return f"{type(self).__name__}(min_value={self.min_value}, max_value={self.max_value})"


@TRANSFORMS.register_module()
class RGB2Gray:
    """Grey image = channel-weighted sum with ``weights`` (one per input channel), repeated to
    ``out_channels`` channels (the input's channel count when None). Output (H, W, out_channels) float64.
    """

    def __init__(self, out_channels: int | None = None, weights: Sequence[float] = (0.299, 0.587, 0.114)) -> None:
        if out_channels is not None and out_channels <= 0:
            raise ValueError(f"RGB2Gray: out_channels must be None or positive, got {out_channels}")
        if not all(isinstance(w, (int, float)) for w in weights):
            raise ValueError(f"RGB2Gray: weights must be numbers, got {weights!r}")
        self.out_channels = out_channels
        self.weights = tuple(weights)

    def __call__(self, results: dict) -> dict:
        img = results["img"]
        if img.ndim != 3 or img.shape[2] != len(self.weights):
            raise ValueError(
                f"RGB2Gray: image of shape {img.shape} needs (H, W, {len(self.weights)}) to match "
                f"weights={self.weights}"
            )
        gray = (img * np.asarray(self.weights, dtype=np.float64)).sum(2, keepdims=True)
        results["img"] = np.repeat(gray, self.out_channels or len(self.weights), axis=2)
        results["img_shape"] = results["img"].shape[:2]
        return results

    def __repr__(self) -> str:
        return f"{type(self).__name__}(out_channels={self.out_channels}, weights={self.weights})"
