"""Geometric transforms (resize, crop, flip, pad) applied to the image and every mask in ``seg_fields``.

Images are (H, W, C) numpy arrays; masks (H, W) are always resized with nearest neighbour and moved
by exactly the same geometry as the image, so they stay pixel-aligned. Sizes follow MMCV: ``scale``
and ``Pad(size)`` are (w, h); ``crop_size`` is (h, w); ``img_shape`` is (h, w).
"""
from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from seglab.registry import TRANSFORMS

from ...unused_arguments import warn_unused

__all__ = [
    "Pad",
    "RandomCrop",
    "RandomFlip",
    "RandomResize",
    "Resize",
    "imresize",
    "rescale_size",
    "seg_keys",
]

INTERPOLATION = {
    "nearest": cv2.INTER_NEAREST,
    "bilinear": cv2.INTER_LINEAR,
    "bicubic": cv2.INTER_CUBIC,
    "area": cv2.INTER_AREA,
    "lanczos": cv2.INTER_LANCZOS4,
}


def seg_keys(results: dict) -> list[str]:
    """Names of the per-pixel label maps present in ``results`` (``seg_fields`` plus ``gt_seg_map``)."""
    keys = [k for k in results.get("seg_fields", []) if results.get(k) is not None]
    if results.get("gt_seg_map") is not None and "gt_seg_map" not in keys:
        keys.append("gt_seg_map")
    return keys


def imresize(img: np.ndarray, size: tuple[int, int], interpolation: str = "bilinear") -> np.ndarray:
    """Resize ``img`` (H, W[, C]) to ``size`` = (w, h)."""
    if interpolation not in INTERPOLATION:
        raise ValueError(f"interpolation must be one of {list(INTERPOLATION)}, got {interpolation!r}")
    w, h = int(size[0]), int(size[1])
    if w <= 0 or h <= 0:
        raise ValueError(f"cannot resize to a non-positive size (w, h)={size}")
    out = cv2.resize(img, (w, h), interpolation=INTERPOLATION[interpolation])
    if img.ndim == 3 and out.ndim == 2:  # cv2 drops a trailing channel axis of size 1
        out = out[..., None]
    return out


def _scale_size(size: tuple[int, int], scale: float | tuple[float, float]) -> tuple[int, int]:
    """Scale (w, h) by a factor (or (fw, fh)), rounding half up as MMCV does."""
    if isinstance(scale, (float, int)):
        scale = (scale, scale)
    return int(size[0] * float(scale[0]) + 0.5), int(size[1] * float(scale[1]) + 0.5)


def rescale_size(old_size: tuple[int, int], scale: float | tuple[int, int]) -> tuple[tuple[int, int], float]:
    """New (w, h) keeping the aspect ratio, and its factor.

    A number scales by that factor; a tuple gives the largest size whose long edge is <= max(scale)
    and short edge is <= min(scale).
    """
    w, h = old_size
    if isinstance(scale, (float, int)):
        if scale <= 0:
            raise ValueError(f"invalid scale factor {scale}, must be positive")
        factor = float(scale)
    else:
        long_edge, short_edge = max(scale), min(scale)
        factor = min(long_edge / max(h, w), short_edge / min(h, w))
    return _scale_size((w, h), factor), factor


def _as_pair(value: float | Sequence, name: str) -> tuple:
    if isinstance(value, (int, float)):
        return (value, value)
    if len(value) != 2:
        raise ValueError(f"{name} must be a number or a pair, got {value!r}")
    return tuple(value)


@TRANSFORMS.register_module()
class Resize:
    """Resize the image to ``scale`` (w, h) or by ``scale_factor``; masks follow with nearest neighbour.

    With ``keep_ratio`` the image gets the largest size within ``scale`` (long edge <= max(scale),
    short edge <= min(scale)). Sets ``img_shape``, ``scale`` (w, h), ``scale_factor`` (w_ratio,
    h_ratio) and ``keep_ratio``.
    """

    def __init__(
        self,
        scale: int | tuple[int, int] | None = None,
        scale_factor: float | tuple[float, float] | None = None,
        keep_ratio: bool = False,
        clip_object_border: bool = True,
        backend: str = "cv2",
        interpolation: str = "bilinear",
    ) -> None:
        warn_unused("Resize", clip_object_border=clip_object_border, backend=backend)
        if scale is None and scale_factor is None:
            raise ValueError("Resize: set `scale` (w, h) or `scale_factor`")
        if scale is not None and scale_factor is not None:
            raise ValueError("Resize: set only one of `scale` and `scale_factor`")
        if interpolation not in INTERPOLATION:
            raise ValueError(f"Resize: interpolation must be one of {list(INTERPOLATION)}, got {interpolation!r}")
        self.scale = None if scale is None else tuple(int(s) for s in _as_pair(scale, "scale"))
        self.scale_factor = None if scale_factor is None else _as_pair(scale_factor, "scale_factor")
        self.keep_ratio = keep_ratio
        self.clip_object_border = clip_object_border
        self.backend = backend
        self.interpolation = interpolation

    def target_size(self, h: int, w: int, scale: tuple[int, int]) -> tuple[int, int]:
        """The new (w, h) for an image of (h, w) and a target ``scale`` (w, h)."""
        if self.keep_ratio:
            return rescale_size((w, h), scale)[0]
        return int(scale[0]), int(scale[1])

    def __call__(self, results: dict) -> dict:
        img = results["img"]
        h, w = img.shape[:2]
        if self.scale:
            results["scale"] = self.scale
        else:
            results["scale"] = _scale_size((w, h), self.scale_factor)
        new_w, new_h = self.target_size(h, w, results["scale"])
        results["img"] = imresize(img, (new_w, new_h), self.interpolation)
        for key in seg_keys(results):
            results[key] = imresize(results[key], (new_w, new_h), "nearest")
        results["img_shape"] = (new_h, new_w)
        results["scale_factor"] = (new_w / w, new_h / h)
        results["keep_ratio"] = self.keep_ratio
        return results

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(scale={self.scale}, scale_factor={self.scale_factor}, "
            f"keep_ratio={self.keep_ratio}, interpolation={self.interpolation!r})"
        )


@TRANSFORMS.register_module()
class RandomResize:
    """Resize to a random scale: ``scale`` (w, h) times a ratio drawn from ``ratio_range``, or a scale
    drawn between the long/short edges of a list of scales; the resize itself is ``resize_type``.
    """

    def __init__(
        self,
        scale: tuple[int, int] | Sequence[tuple[int, int]],
        ratio_range: tuple[float, float] | None = None,
        resize_type: str = "Resize",
        **resize_kwargs,
    ) -> None:
        self.scale = scale
        self.ratio_range = ratio_range
        if ratio_range is not None:
            if len(ratio_range) != 2 or ratio_range[0] > ratio_range[1]:
                raise ValueError(f"RandomResize: ratio_range must be (min, max), got {ratio_range!r}")
            if not (isinstance(scale, Sequence) and len(scale) == 2 and all(isinstance(s, (int, float)) for s in scale)):
                raise ValueError(f"RandomResize: with ratio_range, scale must be one (w, h) pair, got {scale!r}")
        self.resize_cfg = dict(type=resize_type, **resize_kwargs)
        # The wrapped resize is built once; its scale is set for every call.
        self.resize = TRANSFORMS.build(dict(self.resize_cfg, scale=(1, 1)))

    def _random_scale(self) -> tuple[int, int]:
        scale = self.scale
        if isinstance(scale[0], (int, float)):
            if self.ratio_range is None:
                return int(scale[0]), int(scale[1])
            lo, hi = self.ratio_range
            ratio = np.random.random_sample() * (hi - lo) + lo
            return int(scale[0] * ratio), int(scale[1] * ratio)
        longs = [max(s) for s in scale]
        shorts = [min(s) for s in scale]
        long_edge = np.random.randint(min(longs), max(longs) + 1)
        short_edge = np.random.randint(min(shorts), max(shorts) + 1)
        return int(long_edge), int(short_edge)

    def __call__(self, results: dict) -> dict:
        self.resize.scale = self._random_scale()
        return self.resize(results)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(scale={self.scale}, ratio_range={self.ratio_range}, "
            f"resize_cfg={self.resize_cfg})"
        )


def _label_counts(seg: np.ndarray, ignore_index: int) -> np.ndarray:
    """Pixel counts of the labels present in ``seg`` (ignore_index left out), in label order."""
    if seg.dtype == np.uint8 and seg.ndim == 2 and seg.size < 2**24:
        # cv2.calcHist reads a crop view in place (np.bincount first copies it to int64); its float32
        # counts are exact integers below 2**24 pixels.
        counts = cv2.calcHist([seg], [0], None, [256], [0, 256]).ravel().astype(np.int64)
        if 0 <= ignore_index < 256:
            counts[ignore_index] = 0
        return counts[counts > 0]
    if seg.dtype in (np.uint8, np.uint16):  # a histogram, not np.unique's sort
        counts = np.bincount(seg.ravel(), minlength=ignore_index + 1 if 0 <= ignore_index < 65536 else 0)
        if 0 <= ignore_index < len(counts):
            counts[ignore_index] = 0
        return counts[counts > 0]
    labels, counts = np.unique(seg, return_counts=True)
    return counts[labels != ignore_index]


@TRANSFORMS.register_module()
class RandomCrop:
    """Crop a random ``crop_size`` (h, w) window (smaller images are kept whole along that side).

    With ``cat_max_ratio`` < 1, up to 10 windows are tried until no single class (ignoring
    ``ignore_index``) covers ``cat_max_ratio`` or more of the window's labelled pixels.
    """

    def __init__(self, crop_size: int | tuple[int, int], cat_max_ratio: float = 1.0, ignore_index: int = 255) -> None:
        crop_size = _as_pair(crop_size, "crop_size")
        if crop_size[0] <= 0 or crop_size[1] <= 0:
            raise ValueError(f"RandomCrop: crop_size must be positive, got {crop_size}")
        self.crop_size = (int(crop_size[0]), int(crop_size[1]))
        self.cat_max_ratio = cat_max_ratio
        self.ignore_index = ignore_index

    def crop_bbox(self, h: int, w: int) -> tuple[int, int, int, int]:
        """A random window (y1, y2, x1, x2) inside an (h, w) image."""
        off_h = np.random.randint(0, max(h - self.crop_size[0], 0) + 1)
        off_w = np.random.randint(0, max(w - self.crop_size[1], 0) + 1)
        return off_h, off_h + self.crop_size[0], off_w, off_w + self.crop_size[1]

    def _generate_crop_bbox(self, results: dict) -> tuple[int, int, int, int]:
        h, w = results["img"].shape[:2]
        bbox = self.crop_bbox(h, w)
        if self.cat_max_ratio < 1.0 and results.get("gt_seg_map") is not None:
            for _ in range(10):
                y1, y2, x1, x2 = bbox
                counts = _label_counts(results["gt_seg_map"][y1:y2, x1:x2], self.ignore_index)
                if len(counts) > 1 and counts.max() / counts.sum() < self.cat_max_ratio:
                    break
                bbox = self.crop_bbox(h, w)
        return bbox

    def __call__(self, results: dict) -> dict:
        y1, y2, x1, x2 = self._generate_crop_bbox(results)
        results["img"] = results["img"][y1:y2, x1:x2, ...]
        for key in seg_keys(results):
            results[key] = results[key][y1:y2, x1:x2]
        results["img_shape"] = results["img"].shape[:2]
        return results

    def __repr__(self) -> str:
        return f"{type(self).__name__}(crop_size={self.crop_size}, cat_max_ratio={self.cat_max_ratio})"


_FLIP_AXES = {"horizontal": (1,), "vertical": (0,), "diagonal": (0, 1)}
_CV2_FLIP_CODES = {(1,): 1, (0,): 0, (0, 1): -1}
_CV2_DTYPES = (np.uint8, np.int8, np.uint16, np.int16, np.int32, np.float32, np.float64)


def _flip(arr: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
    """A contiguous copy of ``arr`` (H, W[, C]) flipped along ``axes`` (0: rows, 1: columns)."""
    if arr.dtype in _CV2_DTYPES and (arr.ndim == 2 or (arr.ndim == 3 and 1 < arr.shape[2] <= 4)):
        return cv2.flip(arr, _CV2_FLIP_CODES[axes])  # one pass; numpy's flip + copy is ~10x slower
    return np.ascontiguousarray(np.flip(arr, axes))


@TRANSFORMS.register_module()
class RandomFlip:
    """Flip image and masks with probability ``prob`` in ``direction`` ('horizontal', 'vertical',
    'diagonal'); lists give one probability per direction. ``swap_seg_labels`` lists label pairs
    swapped when flipping (e.g. left/right arm). Sets ``flip`` and ``flip_direction``.
    """

    def __init__(
        self,
        prob: float | Sequence[float] | None = None,
        direction: str | Sequence[str] = "horizontal",
        swap_seg_labels: Sequence[Sequence[int]] | None = None,
    ) -> None:
        directions = [direction] if isinstance(direction, str) else list(direction)
        for d in directions:
            if d not in _FLIP_AXES:
                raise ValueError(f"RandomFlip: direction must be in {list(_FLIP_AXES)}, got {d!r}")
        if isinstance(prob, (int, float)):
            if not 0 <= prob <= 1:
                raise ValueError(f"RandomFlip: prob must be in [0, 1], got {prob}")
            probs = [prob / len(directions)] * len(directions)
        elif isinstance(prob, Sequence):
            probs = [float(p) for p in prob]
            if len(probs) != len(directions) or sum(probs) > 1 + 1e-9 or min(probs) < 0:
                raise ValueError("RandomFlip: a list prob needs one value per direction, summing to <= 1")
        else:
            raise ValueError(f"RandomFlip: prob must be a float or a list of floats, got {prob!r}")
        self.prob = prob
        self.direction = direction
        self.swap_seg_labels = swap_seg_labels
        self._directions = directions + [None]
        self._probs = probs + [max(0.0, 1.0 - sum(probs))]

    def _choose_direction(self) -> str | None:
        return self._directions[np.random.choice(len(self._directions), p=np.array(self._probs) / sum(self._probs))]

    def _flip_seg(self, seg: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
        seg = _flip(seg, axes)
        if self.swap_seg_labels:
            src = seg.copy()
            for a, b in self.swap_seg_labels:
                seg[src == a] = b
                seg[src == b] = a
        return seg

    def __call__(self, results: dict) -> dict:
        direction = self._choose_direction()
        results["flip"] = direction is not None
        results["flip_direction"] = direction
        if direction is not None:
            axes = _FLIP_AXES[direction]
            results["img"] = _flip(results["img"], axes)
            for key in seg_keys(results):
                results[key] = self._flip_seg(results[key], axes)
        return results

    def __repr__(self) -> str:
        return f"{type(self).__name__}(prob={self.prob}, direction={self.direction!r})"


@TRANSFORMS.register_module()
class Pad:
    """Pad image and masks at the bottom/right to ``size`` (w, h), to a multiple of ``size_divisor``,
    or to a square. Images get ``pad_val`` (a number, or dict(img=, seg=)), masks ``seg_pad_val``
    (default 255, or ``pad_val['seg']``). Sets ``pad_shape`` (h, w), ``pad_fixed_size``,
    ``pad_size_divisor`` and ``img_shape``.
    """

    def __init__(
        self,
        size: tuple[int, int] | None = None,
        size_divisor: int | None = None,
        pad_to_square: bool = False,
        pad_val: float | dict = dict(img=0, seg=255),  # noqa: B006 - MMCV's default, never mutated
        padding_mode: str = "constant",
        seg_pad_val: int | None = None,
    ) -> None:
        if sum(x is not None and x is not False for x in (size, size_divisor, pad_to_square or None)) == 0:
            raise ValueError("Pad: set one of size (w, h), size_divisor or pad_to_square=True")
        if size is not None and size_divisor is not None:
            raise ValueError("Pad: set only one of size and size_divisor")
        modes = {"constant": cv2.BORDER_CONSTANT, "edge": cv2.BORDER_REPLICATE,
                 "reflect": cv2.BORDER_REFLECT_101, "symmetric": cv2.BORDER_REFLECT}
        if padding_mode not in modes:
            raise ValueError(f"Pad: padding_mode must be one of {list(modes)}, got {padding_mode!r}")
        self.size = None if size is None else tuple(int(s) for s in _as_pair(size, "size"))
        self.size_divisor = size_divisor
        self.pad_to_square = pad_to_square
        if isinstance(pad_val, dict):
            self.img_pad_val = pad_val.get("img", 0)
            self.seg_pad_val = pad_val.get("seg", 255) if seg_pad_val is None else seg_pad_val
        else:
            self.img_pad_val = pad_val
            self.seg_pad_val = 255 if seg_pad_val is None else seg_pad_val
        self.pad_val = pad_val
        self.padding_mode = padding_mode
        self._border = modes[padding_mode]

    def target_shape(self, h: int, w: int) -> tuple[int, int]:
        """The padded (h, w) for an (h, w) image."""
        if self.pad_to_square:
            h = w = max(h, w)
        if self.size_divisor is not None:
            d = self.size_divisor
            return int(np.ceil(h / d)) * d, int(np.ceil(w / d)) * d
        if self.size is not None:
            return self.size[1], self.size[0]
        return h, w

    def _pad(self, arr: np.ndarray, shape: tuple[int, int], value: float) -> np.ndarray:
        dh, dw = shape[0] - arr.shape[0], shape[1] - arr.shape[1]
        if dh < 0 or dw < 0:
            raise ValueError(f"Pad: image of (h, w)={arr.shape[:2]} is larger than the pad size {shape}")
        if dh == 0 and dw == 0:
            return arr
        if arr.ndim == 3:
            value = [value] * arr.shape[2] if isinstance(value, (int, float)) else list(value)
            if arr.shape[2] > 4:  # cv2 border values hold at most 4 channels
                return np.stack([self._pad(arr[..., c], shape, value[c]) for c in range(arr.shape[2])], -1)
        out = cv2.copyMakeBorder(arr, 0, dh, 0, dw, self._border, value=value)
        if arr.ndim == 3 and out.ndim == 2:
            out = out[..., None]
        return out

    def __call__(self, results: dict) -> dict:
        h, w = results["img"].shape[:2]
        shape = self.target_shape(h, w)
        results["img"] = self._pad(results["img"], shape, self.img_pad_val)
        for key in seg_keys(results):
            results[key] = self._pad(results[key], shape, self.seg_pad_val)
        results["pad_shape"] = shape
        results["pad_fixed_size"] = self.size
        results["pad_size_divisor"] = self.size_divisor
        results["img_shape"] = shape
        return results

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(size={self.size}, size_divisor={self.size_divisor}, "
            f"pad_to_square={self.pad_to_square}, pad_val={self.img_pad_val}, seg_pad_val={self.seg_pad_val})"
        )
