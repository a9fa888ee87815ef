"""The rest of the resize family: choice of scales, shortest edge, multiple of a divisor, mask-only rescale.

Sizes follow MMCV like ``geometric.py``: ``scale``/``scales`` are (w, h), ``img_shape`` is (h, w).
Every transform here moves the image and all masks (``seg_fields`` plus ``gt_seg_map``) together;
masks always use nearest neighbour so labels are never blended.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from seglab.registry import TRANSFORMS

from .geometric import INTERPOLATION, imresize, rescale_size, seg_keys

__all__ = ["RandomChoiceResize", "ResizeShortestEdge", "ResizeToMultiple", "SegRescale"]


@TRANSFORMS.register_module()
class RandomChoiceResize:
    """Resize with a scale picked uniformly from ``scales`` (a list of (w, h) or ints, or one scale).

    The resize itself is ``resize_type`` built with ``resize_kwargs`` (e.g. ``keep_ratio=True``).
    Adds ``scale_idx`` (the index of the chosen scale) besides the resize's keys.
    """

    def __init__(
        self,
        scales: Sequence[int | tuple[int, int]] | int | tuple[int, int],
        resize_type: str = "Resize",
        **resize_kwargs,
    ) -> None:
        self.scales = list(scales) if isinstance(scales, list) else [scales]
        for s in self.scales:
            ok = isinstance(s, int) or (isinstance(s, (tuple, list)) and len(s) == 2)
            if not ok:
                raise ValueError(f"RandomChoiceResize: each of scales must be an int or a (w, h) pair, got {s!r}")
        self.resize_cfg = dict(type=resize_type, **resize_kwargs)
        # Built once with a placeholder scale; the chosen scale is set on every call.
        self.resize = TRANSFORMS.build(dict(self.resize_cfg, scale=(1, 1)))

    def _random_select(self) -> tuple[tuple[int, int] | int, int]:
        idx = int(np.random.randint(len(self.scales)))
        return self.scales[idx], idx

    def __call__(self, results: dict) -> dict:
        scale, idx = self._random_select()
        self.resize.scale = (scale, scale) if isinstance(scale, int) else tuple(scale)
        results = self.resize(results)
        results["scale_idx"] = idx
        return results

    def __repr__(self) -> str:
        return f"{type(self).__name__}(scales={self.scales}, resize_cfg={self.resize_cfg})"


@TRANSFORMS.register_module()
class ResizeShortestEdge:
    """Resize keeping the aspect ratio so the short edge is ``scale`` (min of a tuple), unless the long
    edge would pass ``max_size``, in which case the long edge becomes ``max_size`` (detectron2 style).
    """

    def __init__(self, scale: int | tuple[int, int], max_size: int) -> None:
        if not isinstance(scale, int) and not (isinstance(scale, (tuple, list)) and len(scale) > 0):
            raise ValueError(f"ResizeShortestEdge: scale must be an int or a tuple of ints, got {scale!r}")
        if max_size <= 0:
            raise ValueError(f"ResizeShortestEdge: max_size must be positive, got {max_size}")
        self.scale = scale
        self.max_size = max_size
        # MMSeg hands the computed (w, h) to a keep-ratio Resize, which may round one pixel differently.
        self.resize = TRANSFORMS.build(dict(type="Resize", scale=(1, 1), keep_ratio=True))

    def output_size(self, h: int, w: int) -> tuple[int, int]:
        """The target (w, h) for an (h, w) image."""
        short = float(self.scale if isinstance(self.scale, int) else min(self.scale))
        ratio = short / min(h, w)
        new_h, new_w = (short, ratio * w) if h < w else (ratio * h, short)
        if max(new_h, new_w) > self.max_size:
            shrink = self.max_size / max(new_h, new_w)
            new_h, new_w = new_h * shrink, new_w * shrink
        return int(new_w + 0.5), int(new_h + 0.5)

    def __call__(self, results: dict) -> dict:
        h, w = results["img"].shape[:2]
        self.resize.scale = self.output_size(h, w)
        return self.resize(results)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(scale={self.scale}, max_size={self.max_size})"


@TRANSFORMS.register_module()
class ResizeToMultiple:
    """Resize image and masks up to the next multiple of ``size_divisor`` on each side (ceil).

    The image uses ``interpolation`` (bilinear when None); sets ``img_shape`` and ``pad_shape``.
    """

    def __init__(self, size_divisor: int = 32, interpolation: str | None = None) -> None:
        if int(size_divisor) <= 0:
            raise ValueError(f"ResizeToMultiple: size_divisor must be positive, got {size_divisor}")
        if interpolation is not None and interpolation not in INTERPOLATION:
            raise ValueError(
                f"ResizeToMultiple: interpolation must be one of {list(INTERPOLATION)} or None, got {interpolation!r}"
            )
        self.size_divisor = int(size_divisor)
        self.interpolation = interpolation

    def target_size(self, h: int, w: int) -> tuple[int, int]:
        """The new (w, h) for an (h, w) image."""
        d = self.size_divisor
        return int(np.ceil(w / d)) * d, int(np.ceil(h / d)) * d

    def __call__(self, results: dict) -> dict:
        h, w = results["img"].shape[:2]
        size = self.target_size(h, w)
        results["img"] = imresize(results["img"], size, self.interpolation or "bilinear")
        for key in seg_keys(results):
            results[key] = imresize(results[key], size, "nearest")
        results["img_shape"] = results["img"].shape[:2]
        results["pad_shape"] = results["img"].shape[:2]
        return results

    def __repr__(self) -> str:
        return f"{type(self).__name__}(size_divisor={self.size_divisor}, interpolation={self.interpolation})"


@TRANSFORMS.register_module()
class SegRescale:
    """Rescale only the masks by ``scale_factor`` (nearest neighbour, aspect kept), e.g. for heads
    supervised at a lower resolution. The image is untouched.
    """

    def __init__(self, scale_factor: float = 1) -> None:
        if scale_factor <= 0:
            raise ValueError(f"SegRescale: scale_factor must be positive, got {scale_factor}")
        self.scale_factor = scale_factor

    def __call__(self, results: dict) -> dict:
        if self.scale_factor == 1:
            return results
        for key in seg_keys(results):
            h, w = results[key].shape[:2]
            size, _ = rescale_size((w, h), self.scale_factor)
            results[key] = imresize(results[key], size, "nearest")
        return results

    def __repr__(self) -> str:
        return f"{type(self).__name__}(scale_factor={self.scale_factor})"
