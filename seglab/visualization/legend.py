"""Class legends and contact sheets (image | ground truth | prediction rows) drawn with OpenCV."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from .overlay import overlay

__all__ = ["contact_sheet", "draw_legend", "fit_to"]

_FONT = cv2.FONT_HERSHEY_SIMPLEX


def draw_legend(classes: Sequence[str], palette: Sequence[Sequence[int]], width: int, font_scale: float = 0.5,
                present: Sequence[int] | None = None) -> np.ndarray:
    """A legend strip RGB (h, ``width``, 3): a colour swatch and the name of each class, wrapped into rows.

    ``present`` limits it to those class indices (e.g. the classes visible in the sheet).
    """
    indices = list(range(len(classes))) if present is None else [int(i) for i in present if 0 <= i < len(classes)]
    thickness = 1
    (_, text_h), _ = cv2.getTextSize("Ag", _FONT, font_scale, thickness)
    swatch = text_h + 6
    row_h = swatch + 8
    pad = 8
    # Lay the entries out left to right, starting a new row when the next one would not fit.
    places, x, y = [], pad, pad
    for i in indices:
        (text_w, _), _ = cv2.getTextSize(str(classes[i]), _FONT, font_scale, thickness)
        entry_w = swatch + 6 + text_w + 16
        if x + entry_w > width - pad and x > pad:
            x, y = pad, y + row_h
        places.append((i, x, y))
        x += entry_w
    height = y + row_h + pad if places else 2 * pad
    canvas = np.full((height, width, 3), 255, np.uint8)
    for i, x, y in places:
        colour = tuple(int(c) for c in palette[i])
        cv2.rectangle(canvas, (x, y), (x + swatch, y + swatch), colour, -1)
        cv2.rectangle(canvas, (x, y), (x + swatch, y + swatch), (0, 0, 0), 1)
        cv2.putText(canvas, str(classes[i]), (x + swatch + 6, y + swatch - 3), _FONT, font_scale, (0, 0, 0),
                    thickness, cv2.LINE_AA)
    return canvas


def fit_to(image: np.ndarray, height: int, nearest: bool = False) -> np.ndarray:
    """``image`` resized to ``height`` rows keeping its aspect ratio (nearest for label maps)."""
    h, w = image.shape[:2]
    width = max(1, round(w * height / h))
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_NEAREST if nearest else cv2.INTER_LINEAR)


def contact_sheet(
    rows: Sequence[tuple[np.ndarray, np.ndarray | None, np.ndarray]],
    classes: Sequence[str],
    palette: Sequence[Sequence[int]],
    row_height: int = 256,
    alpha: float = 0.6,
    titles: Sequence[str] = ("image", "ground truth", "prediction"),
) -> np.ndarray:
    """One RGB sheet: a header, then per row image | GT overlay | prediction overlay, then the legend.

    ``rows`` holds ``(image RGB (H, W, 3), gt (H, W) or None, pred (H, W))``; every panel is scaled to
    ``row_height`` (labels with nearest neighbour); the legend lists the classes that appear.
    """
    if not rows:
        raise ValueError("contact_sheet: no rows to draw")
    gap = 4
    drawn_rows, present = [], set()
    for image, gt, pred in rows:
        image = np.ascontiguousarray(image[..., :3]).astype(np.uint8)
        panels = [fit_to(image, row_height)]
        for mask in (gt, pred):
            if mask is None:
                panels.append(np.full_like(panels[0], 255))
                continue
            mask = np.asarray(mask).reshape(image.shape[:2]).astype(np.int64)
            present.update(int(c) for c in np.unique(mask) if 0 <= c < len(classes))
            panels.append(fit_to(overlay(image, mask, palette, alpha), row_height))
        sep = np.full((row_height, gap, 3), 255, np.uint8)
        drawn_rows.append(np.concatenate([panels[0], sep, panels[1], sep, panels[2]], axis=1))
    width = max(r.shape[1] for r in drawn_rows)
    drawn_rows = [np.pad(r, ((0, gap), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in drawn_rows]
    panel_w = (drawn_rows[0].shape[1] - 2 * gap) // 3
    header = np.full((28, width, 3), 255, np.uint8)
    for k, title in enumerate(titles):
        cv2.putText(header, title, (k * (panel_w + gap) + 6, 20), _FONT, 0.6, (0, 0, 0), 1, cv2.LINE_AA)
    legend = draw_legend(classes, palette, width, present=sorted(present))
    return np.concatenate([header, *drawn_rows, legend], axis=0)
