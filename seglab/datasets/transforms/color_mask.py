"""ColorMaskToLabel: turn colour-coded RGB masks into class-index label maps."""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import cv2
import numpy as np

from seglab.registry import TRANSFORMS

from .loading import imread

__all__ = ["ColorMaskToLabel"]


def _rgb_key(rgb: np.ndarray) -> np.ndarray:
    """Pack (..., 3) uint8 RGB into one int per pixel."""
    rgb = rgb.astype(np.int64)
    return (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]


@TRANSFORMS.register_module()
class ColorMaskToLabel:
    """Map each RGB colour of a colour-coded mask to its class index: ``gt_seg_map`` (H, W) uint8.

    ``color_map`` is a palette (``[[r, g, b], ...]``, index = class, as ``metainfo['palette']``) or a
    dict ``{(r, g, b): class_id}`` (class_id may be 255 = ignore). If ``gt_seg_map`` is already an
    (H, W, 3) array it is converted; otherwise ``seg_map_path`` is read as colour (use this instead of
    LoadAnnotations, which accepts index masks only). A colour not in the map raises naming the file
    and the colours. ``channel_order`` is the order of ``gt_seg_map`` when it is given ('bgr' for an
    array read with OpenCV).
    """

    def __init__(
        self, color_map: Sequence[Sequence[int]] | Mapping[Sequence[int], int], channel_order: str = "rgb"
    ) -> None:
        if channel_order not in ("rgb", "bgr"):
            raise ValueError(f"ColorMaskToLabel: channel_order must be 'rgb' or 'bgr', got {channel_order!r}")
        if isinstance(color_map, Mapping):
            pairs = [(tuple(int(c) for c in colour), int(label)) for colour, label in color_map.items()]
        else:
            pairs = [(tuple(int(c) for c in colour), i) for i, colour in enumerate(color_map)]
        for colour, label in pairs:
            if len(colour) != 3 or not all(0 <= c <= 255 for c in colour):
                raise ValueError(f"ColorMaskToLabel: colours must be (r, g, b) in 0..255, got {colour}")
            if not 0 <= label <= 255:
                raise ValueError(f"ColorMaskToLabel: class ids must be in 0..255, got {label} for {colour}")
        keys = [(c[0] << 16) | (c[1] << 8) | c[2] for c, _ in pairs]
        if len(set(keys)) != len(keys):
            raise ValueError("ColorMaskToLabel: a colour appears twice in color_map")
        order = np.argsort(keys)
        self._keys = np.asarray(keys, dtype=np.int64)[order]
        self._labels = np.asarray([label for _, label in pairs], dtype=np.uint8)[order]
        self.color_map = color_map
        self.channel_order = channel_order

    def convert(self, rgb: np.ndarray, source: str = "<array>") -> np.ndarray:
        """(H, W, 3) RGB -> (H, W) uint8 class ids; raises on colours missing from the map."""
        if rgb.ndim != 3 or rgb.shape[2] not in (3, 4):
            raise ValueError(f"{source}: a colour mask must be (H, W, 3), got shape {rgb.shape}")
        key = _rgb_key(rgb[..., :3])
        pos = np.clip(np.searchsorted(self._keys, key), 0, len(self._keys) - 1)
        known = self._keys[pos] == key
        if not known.all():
            unknown = np.unique(key[~known])
            shown = ", ".join(f"({k >> 16}, {(k >> 8) & 255}, {k & 255})" for k in unknown[:10].tolist())
            raise ValueError(
                f"{source}: {len(unknown)} colour(s) not in color_map (RGB): {shown}"
                + (" ..." if len(unknown) > 10 else "")
                + f" in {int((~known).sum())} pixels; add them to color_map (map to 255 to ignore)"
            )
        return self._labels[pos]

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
        return f"{type(self).__name__}(colors={len(self._keys)}, channel_order={self.channel_order!r})"
