"""ColorMaskToLabel: turn colour-coded RGB masks into class-index label maps."""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import cv2
import numpy as np

from seglab.registry import TRANSFORMS

from .color_lookup import ColorLookup
from .loading import imread

__all__ = ["ColorMaskToLabel"]


@TRANSFORMS.register_module()
class ColorMaskToLabel:
    """Map each RGB colour of a colour-coded mask to its class index: ``gt_seg_map`` (H, W) uint8.

    ``color_map`` is a palette (``[[r, g, b], ...]``, index = class, as ``metainfo['palette']``) or a
    dict ``{(r, g, b): class_id}`` (class_id may be 255 = ignore). If ``gt_seg_map`` is already an
    (H, W, 3) array it is converted; otherwise ``seg_map_path`` is read as colour (``LoadAnnotations(color_map=...)``
    does the same while loading). A colour not in the map raises naming the file
    and the colours. ``channel_order`` is the order of ``gt_seg_map`` when it is given ('bgr' for an
    array read with OpenCV).
    """

    def __init__(
        self, color_map: Sequence[Sequence[int]] | Mapping[Sequence[int], int], channel_order: str = "rgb"
    ) -> None:
        if channel_order not in ("rgb", "bgr"):
            raise ValueError(f"ColorMaskToLabel: channel_order must be 'rgb' or 'bgr', got {channel_order!r}")
        self._lookup = ColorLookup(color_map, owner="ColorMaskToLabel")
        self.color_map = color_map
        self.channel_order = channel_order

    def convert(self, rgb: np.ndarray, source: str = "<array>") -> np.ndarray:
        """(H, W, 3) RGB -> (H, W) uint8 class ids; raises on colours missing from the map."""
        return self._lookup(rgb, source)

    def __call__(self, results: dict) -> dict:
        seg = results.get("gt_seg_map")
        source = results.get("seg_map_path") or "<gt_seg_map>"
        if seg is not None and seg.ndim == 3:
            rgb = seg[..., ::-1] if self.channel_order == "bgr" else seg
        elif seg is None:
            rgb = cv2.cvtColor(imread(results["seg_map_path"], "color"), cv2.COLOR_BGR2RGB)
        else:
            raise ValueError(f"{source}: gt_seg_map is already a (H, W) label map; drop ColorMaskToLabel or LoadAnnotations")
        label = self.convert(np.ascontiguousarray(rgb), source)
        img_hw = results.get("ori_shape")
        if img_hw is not None and tuple(label.shape) != tuple(img_hw[:2]):
            raise ValueError(f"{source}: mask size {label.shape} differs from the image size {tuple(img_hw[:2])}")
        results["gt_seg_map"] = label
        results.setdefault("seg_fields", [])
        if "gt_seg_map" not in results["seg_fields"]:
            results["seg_fields"].append("gt_seg_map")
        return results

    def __repr__(self) -> str:
        return f"{type(self).__name__}(colors={len(self._lookup)}, channel_order={self.channel_order!r})"
