"""ColorLookup: RGB colour -> class index mapping shared by LoadAnnotations and ColorMaskToLabel."""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

__all__ = ["ColorLookup", "ColorMap"]

ColorMap = Sequence[Sequence[int]] | Mapping[Sequence[int], int]


def _rgb_key(rgb: np.ndarray) -> np.ndarray:
    """Pack (..., 3) uint8 RGB into one int per pixel."""
    rgb = rgb.astype(np.int64)
    return (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]


class ColorLookup:
    """Map (H, W, 3) RGB colour masks to (H, W) uint8 class ids.

    ``color_map`` is a palette (``[[r, g, b], ...]``, index = class, as ``metainfo['palette']``) or a
    dict ``{(r, g, b): class_id}`` (class_id may be 255 = ignore). ``owner`` prefixes config errors.
    """

    def __init__(self, color_map: ColorMap, owner: str = "color_map") -> None:
        if isinstance(color_map, Mapping):
            pairs = [(tuple(int(c) for c in colour), int(label)) for colour, label in color_map.items()]
        else:
            pairs = [(tuple(int(c) for c in colour), i) for i, colour in enumerate(color_map)]
        if not pairs:
            raise ValueError(f"{owner}: color_map is empty")
        for colour, label in pairs:
            if len(colour) != 3 or not all(0 <= c <= 255 for c in colour):
                raise ValueError(f"{owner}: colours must be (r, g, b) in 0..255, got {colour}")
            if not 0 <= label <= 255:
                raise ValueError(f"{owner}: class ids must be in 0..255, got {label} for {colour}")
        keys = [(c[0] << 16) | (c[1] << 8) | c[2] for c, _ in pairs]
        if len(set(keys)) != len(keys):
            raise ValueError(f"{owner}: a colour appears twice in color_map")
        order = np.argsort(keys)
        self.keys = np.asarray(keys, dtype=np.int64)[order]
        self.labels = np.asarray([label for _, label in pairs], dtype=np.uint8)[order]

    def __len__(self) -> int:
        return len(self.keys)

    def __call__(self, rgb: np.ndarray, source: str = "<array>") -> np.ndarray:
        """(H, W, 3) RGB -> (H, W) uint8 class ids; a ValueError names ``source`` and unknown colours."""
        if rgb.ndim != 3 or rgb.shape[2] not in (3, 4):
            raise ValueError(f"{source}: a colour mask must be (H, W, 3), got shape {rgb.shape}")
        key = _rgb_key(rgb[..., :3])
        pos = np.clip(np.searchsorted(self.keys, key), 0, len(self.keys) - 1)
        known = self.keys[pos] == key
        if not known.all():
            unknown = np.unique(key[~known])
            shown = ", ".join(f"({k >> 16}, {(k >> 8) & 255}, {k & 255})" for k in unknown[:10].tolist())
            raise ValueError(
                f"{source}: {len(unknown)} colour(s) not in color_map (RGB): {shown}"
                + (" ..." if len(unknown) > 10 else "")
                + f" in {int((~known).sum())} pixels; add them to color_map (map to 255 to ignore)"
            )
        return self.labels[pos]
