"""3-D biomedical transforms (MMSeg 1.x names and arguments) on volumes ``img`` (N, Z, Y, X) and label
volumes ``gt_seg_map`` (Z, Y, X).

Geometric: BioMedical3DPad, BioMedical3DRandomCrop (foreground-centred, as nnU-Net samples patches),
BioMedical3DRandomFlip. Intensity (after batchgenerators, Isensee et al.): BioMedicalGaussianNoise,
BioMedicalGaussianBlur, BioMedicalRandomGamma. Random numbers come from numpy's global generator in
MMSeg's order, so a seeded pipeline makes MMSeg's choices. Where MMSeg 1.2.2 has slips, the behaviour
its documentation names is kept: BioMedical3DPad pads X to ``pad_shape[2]`` (MMSeg compares with Y) and
pads the label volume (MMSeg returns an empty one); BioMedicalRandomGamma works with ``per_channel=True``.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np

from seglab.registry import TRANSFORMS

__all__ = [
    "BioMedical3DPad", "BioMedical3DRandomCrop", "BioMedical3DRandomFlip", "BioMedicalGaussianBlur",
    "BioMedicalGaussianNoise", "BioMedicalRandomGamma", "gaussian_filter",
]


def _check_volume(results: dict, owner: str) -> np.ndarray:
    img = results["img"]
    if img.ndim != 4:
        raise ValueError(f"{owner}: img must be a volume (N, Z, Y, X), got shape {img.shape}; load it with "
                         "LoadBiomedicalImageFromFile or LoadBiomedicalData")
    return img


def _check_prob(prob: float, owner: str, name: str = "prob") -> None:
    if not 0.0 <= prob <= 1.0:
        raise ValueError(f"{owner}: {name} must be in [0, 1], got {prob}")


@TRANSFORMS.register_module()
class BioMedical3DPad:
    """Pad ``img`` (N, Z, Y, X) and ``gt_seg_map`` (Z, Y, X) up to ``pad_shape`` (Z, Y, X), centred.

    A side shorter than ``pad_shape`` gets ``d // 2`` before and the rest after; longer sides are kept.
    Sets ``pad_shape`` to the padded (Z, Y, X).
    """

    def __init__(self, pad_shape: Sequence[int], pad_val: float = 0.0, seg_pad_val: int = 0) -> None:
        if pad_shape is None or len(pad_shape) != 3:
            raise ValueError(f"BioMedical3DPad: pad_shape must be (Z, Y, X), got {pad_shape!r}")
        self.pad_shape = tuple(int(s) for s in pad_shape)
        self.pad_val = pad_val
        self.seg_pad_val = seg_pad_val

    def _widths(self, shape: Sequence[int]) -> list[tuple[int, int]]:
        widths = []
        for target, size in zip(self.pad_shape, shape):
            d = max(target - size, 0)
            widths.append((d // 2, d - d // 2))
        return widths

    def __call__(self, results: dict) -> dict:
        img = _check_volume(results, "BioMedical3DPad")
        widths = self._widths(img.shape[1:])
        results["img"] = np.pad(img, [(0, 0), *widths], mode="constant", constant_values=self.pad_val)
        results["pad_shape"] = results["img"].shape[1:]
        if results.get("gt_seg_map") is not None:
            results["gt_seg_map"] = np.pad(results["gt_seg_map"], widths, mode="constant",
                                           constant_values=self.seg_pad_val)
        return results

    def __repr__(self) -> str:
        return f"{type(self).__name__}(pad_shape={self.pad_shape}, pad_val={self.pad_val}, seg_pad_val={self.seg_pad_val})"


@TRANSFORMS.register_module()
class BioMedical3DRandomCrop:
    """Crop a ``crop_shape`` (Z, Y, X) patch from ``img`` and ``gt_seg_map``.

    With ``keep_foreground`` a voxel of a random foreground class (label != 0) is drawn (from up to
    10,000 sampled voxels per class, at least 1% of them) and the patch start is drawn uniformly between
    0 and the start that centres the patch on it; without it (or without foreground) the start is
    uniform over the volume. Sides shorter than the patch are kept whole.
    """

    def __init__(self, crop_shape: int | Sequence[int], keep_foreground: bool = True) -> None:
        if isinstance(crop_shape, int):
            crop_shape = (crop_shape,) * 3
        if len(crop_shape) != 3 or min(crop_shape) <= 0:
            raise ValueError(f"BioMedical3DRandomCrop: crop_shape must be a positive int or (Z, Y, X), got {crop_shape!r}")
        self.crop_shape = tuple(int(s) for s in crop_shape)
        self.keep_foreground = keep_foreground

    @staticmethod
    def random_sample_location(seg_map: np.ndarray) -> np.ndarray | None:
        """A random voxel (z, y, x) of a random foreground class, or None when there is none."""
        class_locs: dict = {}
        foreground = []
        for c in np.unique(seg_map):
            if c == 0:
                continue
            locs = np.argwhere(seg_map == c)
            n = max(min(10000, len(locs)), int(np.ceil(len(locs) * 0.01)))
            class_locs[c] = locs[np.random.choice(len(locs), n, replace=False)]
            foreground.append(c)
        if not foreground:
            return None
        voxels = class_locs[np.random.choice(foreground)]
        return voxels[np.random.choice(len(voxels))]

    def generate_margin(self, results: dict) -> tuple[int, int, int]:
        """The largest start of the patch along (Z, Y, X) (see the class docstring)."""
        seg_map = results.get("gt_seg_map")
        shape = seg_map.shape if seg_map is not None else results["img"].shape[1:]
        whole = tuple(max(s - c, 0) for s, c in zip(shape, self.crop_shape))
        if not self.keep_foreground:
            return whole
        if seg_map is None:
            raise KeyError("BioMedical3DRandomCrop: keep_foreground=True needs gt_seg_map; load the labels first "
                           "or set keep_foreground=False")
        voxel = self.random_sample_location(seg_map)
        if voxel is None:
            warnings.warn(f"BioMedical3DRandomCrop: {results.get('img_path', 'a case')} has no foreground voxels; "
                          "cropping at a uniform random position", stacklevel=2)
            return whole
        return tuple(max(0, min(s - c, max(0, int(v) - c // 2)))
                     for s, c, v in zip(shape, self.crop_shape, voxel))

    def random_generate_crop_bbox(self, margin_z: int, margin_y: int, margin_x: int) -> tuple[int, ...]:
        """(z1, z2, y1, y2, x1, x2) of a patch starting uniformly in [0, margin] per axis."""
        bbox = []
        for margin, size in zip((margin_z, margin_y, margin_x), self.crop_shape):
            start = np.random.randint(0, margin + 1)
            bbox += [start, start + size]
        return tuple(bbox)

    def __call__(self, results: dict) -> dict:
        img = _check_volume(results, "BioMedical3DRandomCrop")
        z1, z2, y1, y2, x1, x2 = self.random_generate_crop_bbox(*self.generate_margin(results))
        results["img"] = img[:, z1:z2, y1:y2, x1:x2]
        results["img_shape"] = results["img"].shape[1:]
        if results.get("gt_seg_map") is not None:
            results["gt_seg_map"] = results["gt_seg_map"][z1:z2, y1:y2, x1:x2]
        return results

    def __repr__(self) -> str:
        return f"{type(self).__name__}(crop_shape={self.crop_shape}, keep_foreground={self.keep_foreground})"


@TRANSFORMS.register_module()
class BioMedical3DRandomFlip:
    """Flip ``img`` and ``gt_seg_map`` along each axis listed in ``axes`` (0: Z, 1: Y, 2: X) with ``prob``.

    The draw is stored in ``do_flip`` (and ``axes`` in ``flip_axes``); a later flip in the same pipeline
    reuses it, as in MMSeg. ``swap_label_pairs`` swaps left/right labels after flipping.
    """

    def __init__(self, prob: float, axes: Sequence[int], swap_label_pairs: Sequence[Sequence[int]] | None = None) -> None:
        _check_prob(prob, "BioMedical3DRandomFlip")
        if axes is not None and (not axes or max(axes) > 2 or min(axes) < 0):
            raise ValueError(f"BioMedical3DRandomFlip: axes must be a tuple of 0 (Z), 1 (Y), 2 (X), got {axes!r}")
        self.prob = prob
        self.axes = tuple(axes) if axes is not None else None
        self.swap_label_pairs = [tuple(p) for p in swap_label_pairs] if swap_label_pairs is not None else None

    def _do_flip(self, img: np.ndarray) -> tuple[bool, bool, bool]:
        # Short-circuit `and`: a number is drawn only for the listed axes (MMSeg's order).
        flip_z = flip_y = flip_x = False
        if self.axes is not None:
            flip_z = 0 in self.axes and np.random.rand() < self.prob
            flip_y = 1 in self.axes and np.random.rand() < self.prob
            if img.ndim == 4:
                flip_x = 2 in self.axes and np.random.rand() < self.prob
        return bool(flip_z), bool(flip_y), bool(flip_x)

    @staticmethod
    def _flip(volume: np.ndarray, direction: Sequence[bool]) -> np.ndarray:
        """Flip (N, Z, Y, X) along Z, Y, X where ``direction`` says so."""
        dims = [axis for axis, do in zip((1, 2, 3), direction) if do]
        return np.flip(volume, axis=dims).copy() if dims else volume

    def _swap_label(self, seg: np.ndarray) -> np.ndarray:
        out = seg.copy()
        for first, second in self.swap_label_pairs:
            out[seg == first] = second
            out[seg == second] = first
        return out

    def __call__(self, results: dict) -> dict:
        img = _check_volume(results, "BioMedical3DRandomFlip")
        if "do_flip" not in results:
            results["do_flip"] = self._do_flip(img)
        if "flip_axes" not in results:
            results["flip_axes"] = self.axes
        results["img"] = self._flip(img, results["do_flip"])
        seg = results.get("gt_seg_map")
        if seg is not None:
            seg = self._flip(seg[None], results["do_flip"])[0]
            results["gt_seg_map"] = self._swap_label(seg) if self.swap_label_pairs is not None else seg
        return results

    def __repr__(self) -> str:
        return f"{type(self).__name__}(prob={self.prob}, axes={self.axes}, swap_label_pairs={self.swap_label_pairs})"


@TRANSFORMS.register_module()
class BioMedicalGaussianNoise:
    """With ``prob``, add N(``mean``, s^2) noise to ``img``, s drawn uniformly from [0, ``std``]."""

    def __init__(self, prob: float = 0.1, mean: float = 0.0, std: float = 0.1) -> None:
        _check_prob(prob, "BioMedicalGaussianNoise")
        if std < 0:
            raise ValueError(f"BioMedicalGaussianNoise: std must be >= 0, got {std}")
        self.prob, self.mean, self.std = prob, mean, std

    def __call__(self, results: dict) -> dict:
        if np.random.rand() < self.prob:
            img = results["img"]
            rand_std = np.random.uniform(0, self.std)
            noise = np.random.normal(self.mean, rand_std, size=img.shape).astype(img.dtype)
            results["img"] = img + noise
        return results

    def __repr__(self) -> str:
        return f"{type(self).__name__}(prob={self.prob}, mean={self.mean}, std={self.std})"


def _gaussian_kernel(sigma: float, truncate: float = 4.0) -> np.ndarray:
    radius = int(truncate * float(sigma) + 0.5)
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    kernel = np.exp(-0.5 / (float(sigma) ** 2) * x**2)
    return kernel / kernel.sum()


def gaussian_filter(volume: np.ndarray, sigma: float | Sequence[float], truncate: float = 4.0) -> np.ndarray:
    """Separable Gaussian smoothing of an n-D array, per-axis ``sigma``, borders mirrored (d c b a | a b c d).

    Matches ``scipy.ndimage.gaussian_filter(volume, sigma, mode='reflect', truncate=truncate)``: float64
    sums, the input dtype after each axis; an axis with sigma 0 is left alone.
    """
    sigmas = [sigma] * volume.ndim if np.isscalar(sigma) else list(sigma)
    if len(sigmas) != volume.ndim:
        raise ValueError(f"gaussian_filter: {len(sigmas)} sigmas for a {volume.ndim}-D array")
    out = volume
    for axis, s in enumerate(sigmas):
        if s <= 1e-15:
            continue
        kernel = _gaussian_kernel(s, truncate)
        radius = len(kernel) // 2
        moved = np.moveaxis(out.astype(np.float64), axis, -1)
        padded = np.pad(moved, [(0, 0)] * (moved.ndim - 1) + [(radius, radius)], mode="symmetric")
        windows = np.lib.stride_tricks.sliding_window_view(padded, len(kernel), axis=-1)
        out = np.moveaxis(windows @ kernel, -1, axis).astype(volume.dtype)
    return np.ascontiguousarray(out)


@TRANSFORMS.register_module()
class BioMedicalGaussianBlur:
    """With ``prob``, blur each channel of ``img`` with probability ``prob_per_channel``.

    Sigma is drawn uniformly from ``sigma_range`` (cast to the type of its first bound), one per axis if
    ``different_sigma_per_axis``, anew per channel if ``different_sigma_per_channel``.
    """

    def __init__(self, sigma_range: Sequence[float] = (0.5, 1.0), prob: float = 0.2, prob_per_channel: float = 0.5,
                 different_sigma_per_channel: bool = True, different_sigma_per_axis: bool = True) -> None:
        _check_prob(prob, "BioMedicalGaussianBlur")
        _check_prob(prob_per_channel, "BioMedicalGaussianBlur", "prob_per_channel")
        if not isinstance(sigma_range, (list, tuple)) or len(sigma_range) != 2:
            raise ValueError(f"BioMedicalGaussianBlur: sigma_range must be (low, high), got {sigma_range!r}")
        self.sigma_range = tuple(sigma_range)
        self.prob = prob
        self.prob_per_channel = prob_per_channel
        self.different_sigma_per_channel = different_sigma_per_channel
        self.different_sigma_per_axis = different_sigma_per_axis

    def _sigma(self) -> float:
        low, high = self.sigma_range
        if low == high:
            return low
        return type(low)(np.random.uniform(low, high))

    def _gaussian_blur(self, img: np.ndarray) -> np.ndarray:
        img = img.copy()
        sigma = None
        for c in range(img.shape[0]):
            if np.random.rand() < self.prob_per_channel:
                if sigma is None or self.different_sigma_per_channel:
                    sigma = ([self._sigma() for _ in img.shape[1:]] if self.different_sigma_per_axis
                             else self._sigma())
                img[c] = gaussian_filter(img[c], sigma)
        return img

    def __call__(self, results: dict) -> dict:
        if np.random.rand() < self.prob:
            results["img"] = self._gaussian_blur(results["img"])
        return results

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(prob={self.prob}, prob_per_channel={self.prob_per_channel}, "
                f"sigma_range={self.sigma_range}, different_sigma_per_channel={self.different_sigma_per_channel}, "
                f"different_sigma_per_axis={self.different_sigma_per_axis})")


@TRANSFORMS.register_module()
class BioMedicalRandomGamma:
    """With ``prob``, map intensities to ``((v - min) / range) ** gamma * range + min``.

    Gamma is drawn from [low, 1) half of the time when ``gamma_range[0] < 1``, else from
    [max(low, 1), high]. ``invert_image`` negates before and after; ``per_channel`` draws per channel;
    ``retain_stats`` restores the mean and std of the input.
    """

    def __init__(self, prob: float = 0.5, gamma_range: Sequence[float] = (0.5, 2), invert_image: bool = False,
                 per_channel: bool = False, retain_stats: bool = False) -> None:
        _check_prob(prob, "BioMedicalRandomGamma")
        if not isinstance(gamma_range, (list, tuple)) or len(gamma_range) != 2:
            raise ValueError(f"BioMedicalRandomGamma: gamma_range must be (low, high), got {gamma_range!r}")
        for name, value in (("invert_image", invert_image), ("per_channel", per_channel),
                            ("retain_stats", retain_stats)):
            if not isinstance(value, bool):
                raise ValueError(f"BioMedicalRandomGamma: {name} must be True or False, got {value!r}")
        self.prob = prob
        self.gamma_range = tuple(gamma_range)
        self.invert_image = invert_image
        self.per_channel = per_channel
        self.retain_stats = retain_stats

    def _adjust(self, img: np.ndarray) -> np.ndarray:
        if self.retain_stats:
            mean, std = img.mean(), img.std()
        low, high = self.gamma_range
        if np.random.random() < 0.5 and low < 1:
            gamma = np.random.uniform(low, 1)
        else:
            gamma = np.random.uniform(max(low, 1), high)
        minimum = img.min()
        span = img.max() - minimum
        img = np.power((img - minimum) / float(span + 1e-7), gamma) * span + minimum
        if self.retain_stats:
            img = img - img.mean()
            img = img / (img.std() + 1e-8) * std + mean
        return img

    def _adjust_gamma(self, img: np.ndarray) -> np.ndarray:
        if self.invert_image:
            img = -img
        if self.per_channel:
            img = img.copy()
            for c in range(img.shape[0]):
                img[c] = self._adjust(img[c])
        else:
            img = self._adjust(img)
        return -img if self.invert_image else img

    def __call__(self, results: dict) -> dict:
        if np.random.rand() < self.prob:
            results["img"] = self._adjust_gamma(results["img"])
        return results

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(prob={self.prob}, gamma_range={self.gamma_range}, "
                f"invert_image={self.invert_image}, per_channel={self.per_channel}, retain_stats={self.retain_stats})")
