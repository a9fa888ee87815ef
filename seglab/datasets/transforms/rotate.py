"""Rotations of the image and every mask: a random angle (RandomRotate), or a right-angle rotation plus
flip / small rotation (RandomRotFlip, used for medical slices).

Angles are in degrees, positive = clockwise, as in MMCV. Masks use nearest neighbour so labels are
never blended, and the same affine matrix as the image, so they stay pixel-aligned.
"""
from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from seglab.registry import TRANSFORMS

from .geometric import INTERPOLATION, seg_keys

__all__ = ["RandomRotFlip", "RandomRotate", "imrotate"]


def imrotate(
    img: np.ndarray,
    angle: float,
    center: tuple[float, float] | None = None,
    border_value: float | Sequence[float] = 0,
    interpolation: str = "bilinear",
    auto_bound: bool = False,
) -> np.ndarray:
    """Rotate ``img`` (H, W[, C]) clockwise by ``angle`` degrees about ``center`` (x, y).

    The default centre is the middle of the pixel grid, ((w - 1) / 2, (h - 1) / 2). With
    ``auto_bound`` the output grows to hold the whole rotated image (then ``center`` must be None).
    """
    if center is not None and auto_bound:
        raise ValueError("imrotate: auto_bound=True rotates about the image centre; leave center=None")
    if img.ndim == 3 and img.shape[2] > 4:  # cv2 border values hold at most 4 channels
        values = border_value if isinstance(border_value, Sequence) else [border_value] * img.shape[2]
        return np.stack([imrotate(img[..., c], angle, center, values[c], interpolation, auto_bound)
                         for c in range(img.shape[2])], -1)
    h, w = img.shape[:2]
    if center is None:
        center = ((w - 1) * 0.5, (h - 1) * 0.5)
    # cv2 treats positive angles as counter-clockwise.
    matrix = cv2.getRotationMatrix2D(tuple(float(c) for c in center), -float(angle), 1.0)
    if auto_bound:
        cos, sin = abs(matrix[0, 0]), abs(matrix[0, 1])
        new_w, new_h = h * sin + w * cos, h * cos + w * sin
        # Shift so the rotated content is centred in the enlarged canvas.
        matrix[0, 2] += (new_w - w) * 0.5
        matrix[1, 2] += (new_h - h) * 0.5
        w, h = int(np.round(new_w)), int(np.round(new_h))
    if isinstance(border_value, Sequence):
        border_value = tuple(float(v) for v in border_value)
    elif img.ndim == 3:
        border_value = (float(border_value),) * min(img.shape[2], 4)
    out = cv2.warpAffine(img, matrix, (w, h), flags=INTERPOLATION[interpolation],
                         borderMode=cv2.BORDER_CONSTANT, borderValue=border_value)
    if img.ndim == 3 and out.ndim == 2:  # cv2 drops a trailing channel axis of size 1
        out = out[..., None]
    return out


def _degree_range(degree: float | Sequence[float], name: str) -> tuple[float, float]:
    if isinstance(degree, (int, float)):
        if degree <= 0:
            raise ValueError(f"{name}: a single degree must be positive (it means (-degree, degree)), got {degree}")
        return (-float(degree), float(degree))
    if len(degree) != 2:
        raise ValueError(f"{name}: degree must be a number or a (min, max) pair, got {degree!r}")
    return (float(degree[0]), float(degree[1]))


def _check_prob(prob: float, name: str, arg: str) -> None:
    if not 0 <= prob <= 1:
        raise ValueError(f"{name}: {arg} must be in [0, 1], got {prob}")


@TRANSFORMS.register_module()
class RandomRotate:
    """With probability ``prob`` rotate image and masks by an angle drawn uniformly from ``degree``
    ((min, max), or a number d meaning (-d, d)). Uncovered pixels get ``pad_val`` in the image and
    ``seg_pad_val`` in the masks; ``auto_bound`` enlarges the canvas to keep every pixel.
    """

    def __init__(
        self,
        prob: float,
        degree: float | tuple[float, float],
        pad_val: float = 0,
        seg_pad_val: int = 255,
        center: tuple[float, float] | None = None,
        auto_bound: bool = False,
    ) -> None:
        _check_prob(prob, "RandomRotate", "prob")
        if center is not None and auto_bound:
            raise ValueError("RandomRotate: auto_bound=True rotates about the image centre; leave center=None")
        self.prob = prob
        self.degree = _degree_range(degree, "RandomRotate")
        self.pad_val = pad_val
        self.seg_pad_val = seg_pad_val
        self.center = None if center is None else tuple(center)
        self.auto_bound = auto_bound

    def _random(self) -> tuple[bool, float]:
        return bool(np.random.rand() < self.prob), float(np.random.uniform(min(self.degree), max(self.degree)))

    def __call__(self, results: dict) -> dict:
        rotate, angle = self._random()
        if not rotate:
            return results
        kw = dict(angle=angle, center=self.center, auto_bound=self.auto_bound)
        results["img"] = imrotate(results["img"], border_value=self.pad_val, **kw)
        for key in seg_keys(results):
            results[key] = imrotate(results[key], border_value=self.seg_pad_val, interpolation="nearest", **kw)
        results["img_shape"] = results["img"].shape[:2]  # changes only with auto_bound
        return results

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(prob={self.prob}, degree={self.degree}, pad_val={self.pad_val}, "
            f"seg_pad_val={self.seg_pad_val}, center={self.center}, auto_bound={self.auto_bound})"
        )


@TRANSFORMS.register_module()
class RandomRotFlip:
    """With probability ``rotate_prob`` rotate by an angle from ``degree``; otherwise, with probability
    ``flip_prob``, rotate by a random multiple of 90 degrees and flip along a random axis.

    As in MMSeg, pixels uncovered by the free rotation are 0 in the image and in the masks. Unlike
    MMSeg (which interpolates labels bilinearly here), masks use nearest neighbour.
    """

    def __init__(
        self, rotate_prob: float = 0.5, flip_prob: float = 0.5, degree: float | tuple[float, float] = (-20, 20)
    ) -> None:
        _check_prob(rotate_prob, "RandomRotFlip", "rotate_prob")
        _check_prob(flip_prob, "RandomRotFlip", "flip_prob")
        self.rotate_prob = rotate_prob
        self.flip_prob = flip_prob
        self.degree = _degree_range(degree, "RandomRotFlip")

    def random_rot_flip(self, results: dict) -> dict:
        """Rotate by k * 90 degrees (k random in 0..3), then flip along a random axis."""
        k = int(np.random.randint(0, 4))
        axis = int(np.random.randint(0, 2))
        for key in ["img", *seg_keys(results)]:
            results[key] = np.ascontiguousarray(np.flip(np.rot90(results[key], k), axis=axis))
        results["img_shape"] = results["img"].shape[:2]
        return results

    def random_rotate(self, results: dict) -> dict:
        """Rotate by an angle drawn uniformly from ``degree``, keeping the size."""
        angle = float(np.random.uniform(min(self.degree), max(self.degree)))
        results["img"] = imrotate(results["img"], angle)
        for key in seg_keys(results):
            results[key] = imrotate(results[key], angle, interpolation="nearest")
        return results

    def __call__(self, results: dict) -> dict:
        if np.random.rand() < self.rotate_prob:
            return self.random_rotate(results)
        if np.random.rand() < self.flip_prob:
            return self.random_rot_flip(results)
        return results

    def __repr__(self) -> str:
        name = type(self).__name__
        return f"{name}(rotate_prob={self.rotate_prob}, flip_prob={self.flip_prob}, degree={self.degree})"
