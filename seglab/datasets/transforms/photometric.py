"""Photometric transforms: change pixel values of ``results['img']`` only, never the geometry or masks."""
from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from seglab.registry import TRANSFORMS

__all__ = ["PhotoMetricDistortion"]


_VALUES = np.arange(256, dtype=np.float32)


def _convert(img: np.ndarray, alpha: float = 1.0, beta: float = 0.0) -> np.ndarray:
    """``img * alpha + beta`` clipped to 0..255, as uint8 (a uint8 image goes through a lookup table)."""
    if img.dtype == np.uint8:
        # The same float32 arithmetic on the 256 possible values, then one table lookup per pixel.
        return _lookup(img, _convert(_VALUES, alpha, beta))
    return np.clip(img.astype(np.float32) * alpha + beta, 0, 255).astype(np.uint8)


def _lookup(img: np.ndarray, table: np.ndarray) -> np.ndarray:
    """``table[img]`` for a uint8 image and a 256-entry uint8 table."""
    if img.ndim == 2 or (img.ndim == 3 and img.shape[2] <= 4):
        # cv2.LUT reads strided views (a crop) as they are; numpy's fancy indexing is ~10x slower.
        return cv2.LUT(img, table).reshape(img.shape)  # reshape: cv2 drops a channel axis of size 1
    return table[img]


def _hsv_channel_lookup(img: np.ndarray, channel: int, table: np.ndarray) -> np.ndarray:
    """Map one HSV channel of a BGR uint8 image through ``table`` and convert back to BGR."""
    hsv = cv2.cvtColor(img, cv2.COLOR_BGR2HSV)
    # Extract, look up and insert the one channel: ~2x faster than a strided numpy gather and write-back.
    values = cv2.extractChannel(hsv, channel)
    cv2.LUT(values, table, dst=values)
    cv2.insertChannel(values, hsv, channel)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)


@TRANSFORMS.register_module()
class PhotoMetricDistortion:
    """Randomly change brightness, contrast, saturation and hue of a BGR uint8 image (H, W, 3).

    Each change happens with probability 0.5, in MMSeg's order: brightness, contrast (first or
    last, at random), saturation, hue.
    """

    def __init__(
        self,
        brightness_delta: int = 32,
        contrast_range: Sequence[float] = (0.5, 1.5),
        saturation_range: Sequence[float] = (0.5, 1.5),
        hue_delta: int = 18,
    ) -> None:
        self.brightness_delta = brightness_delta
        self.contrast_lower, self.contrast_upper = contrast_range
        self.saturation_lower, self.saturation_upper = saturation_range
        self.hue_delta = hue_delta

    def brightness(self, img: np.ndarray) -> np.ndarray:
        """Add a random offset in [-brightness_delta, brightness_delta] (p=0.5)."""
        if np.random.randint(2):
            return _convert(img, beta=np.random.uniform(-self.brightness_delta, self.brightness_delta))
        return img

    def contrast(self, img: np.ndarray) -> np.ndarray:
        """Multiply by a random factor in contrast_range (p=0.5)."""
        if np.random.randint(2):
            return _convert(img, alpha=np.random.uniform(self.contrast_lower, self.contrast_upper))
        return img

    def saturation(self, img: np.ndarray) -> np.ndarray:
        """Scale the HSV saturation by a random factor in saturation_range (p=0.5)."""
        if np.random.randint(2):
            alpha = np.random.uniform(self.saturation_lower, self.saturation_upper)
            return _hsv_channel_lookup(img, 1, _convert(_VALUES, alpha=alpha))
        return img

    def hue(self, img: np.ndarray) -> np.ndarray:
        """Rotate the HSV hue (0..179 in OpenCV) by a random integer in [-hue_delta, hue_delta) (p=0.5)."""
        if np.random.randint(2) and self.hue_delta > 0:
            shift = np.random.randint(-self.hue_delta, self.hue_delta)
            return _hsv_channel_lookup(img, 0, ((np.arange(256) + shift) % 180).astype(np.uint8))
        return img

    def __call__(self, results: dict) -> dict:
        img = results["img"]
        if img.dtype != np.uint8:
            img = np.clip(img, 0, 255).astype(np.uint8)
        img = self.brightness(img)
        contrast_first = np.random.randint(2) == 1
        if contrast_first:
            img = self.contrast(img)
        img = self.saturation(img)
        img = self.hue(img)
        if not contrast_first:
            img = self.contrast(img)
        results["img"] = img
        return results

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(brightness_delta={self.brightness_delta}, "
            f"contrast_range=({self.contrast_lower}, {self.contrast_upper}), "
            f"saturation_range=({self.saturation_lower}, {self.saturation_upper}), hue_delta={self.hue_delta})"
        )
