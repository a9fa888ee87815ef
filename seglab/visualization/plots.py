"""Figures without matplotlib: a normalised confusion matrix and training curves, drawn with OpenCV."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import cv2
import numpy as np

__all__ = ["confusion_matrix_figure", "curves_figure", "normalize_confusion"]

_FONT = cv2.FONT_HERSHEY_SIMPLEX
# Distinct line colours (RGB) for up to 8 curves; more cycle.
_LINE_COLOURS = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75),
                 (227, 119, 194), (127, 127, 127)]


def normalize_confusion(matrix: np.ndarray) -> np.ndarray:
    """Rows (ground truth) divided by their sums: (C, C) float; a class absent from the GT gives a zero row."""
    matrix = np.asarray(matrix, dtype=np.float64)
    sums = matrix.sum(axis=1, keepdims=True)
    return np.divide(matrix, sums, out=np.zeros_like(matrix), where=sums > 0)


def confusion_matrix_figure(matrix: np.ndarray, classes: Sequence[str], cell: int = 40,
                            normalize: bool = True, title: str = "confusion matrix") -> np.ndarray:
    """The (C, C) matrix (rows: ground truth, columns: prediction) as an RGB heat map with class names.

    With ``normalize`` each row shows fractions of that ground-truth class (0..1, printed as %).
    """
    matrix = np.asarray(matrix)
    n = matrix.shape[0]
    if matrix.shape != (n, n) or len(classes) != n:
        raise ValueError(f"confusion_matrix_figure: matrix {matrix.shape} does not match {len(classes)} classes")
    values = normalize_confusion(matrix) if normalize else matrix.astype(np.float64)
    scale = values / max(values.max(), 1e-12)
    label_w = max(cv2.getTextSize(str(c), _FONT, 0.45, 1)[0][0] for c in classes) + 12 if n else 20
    top, left = 50 + label_w, 30 + label_w
    size = (top + n * cell + 20, left + n * cell + 20)
    canvas = np.full((*size, 3), 255, np.uint8)
    cv2.putText(canvas, title, (left, 22), _FONT, 0.6, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.putText(canvas, "prediction", (left, 42), _FONT, 0.4, (90, 90, 90), 1, cv2.LINE_AA)
    for i in range(n):
        for j in range(n):
            # White -> dark blue; text switches to white on dark cells so it stays readable.
            shade = scale[i, j]
            colour = tuple(int(round(255 - shade * (255 - c))) for c in (8, 48, 107))
            y, x = top + i * cell, left + j * cell
            cv2.rectangle(canvas, (x, y), (x + cell - 1, y + cell - 1), colour, -1)
            text = f"{100 * values[i, j]:.0f}" if normalize else f"{int(matrix[i, j])}"
            (tw, th), _ = cv2.getTextSize(text, _FONT, 0.35, 1)
            ink = (255, 255, 255) if shade > 0.5 else (0, 0, 0)
            cv2.putText(canvas, text, (x + (cell - tw) // 2, y + (cell + th) // 2), _FONT, 0.35, ink, 1, cv2.LINE_AA)
    for i, name in enumerate(classes):  # row names on the left, column names written vertically on top
        (tw, th), _ = cv2.getTextSize(str(name), _FONT, 0.45, 1)
        cv2.putText(canvas, str(name), (left - tw - 6, top + i * cell + (cell + th) // 2), _FONT, 0.45, (0, 0, 0), 1,
                    cv2.LINE_AA)
        strip = np.full((th + 6, tw + 4, 3), 255, np.uint8)
        cv2.putText(strip, str(name), (2, th + 2), _FONT, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
        strip = cv2.rotate(strip, cv2.ROTATE_90_COUNTERCLOCKWISE)
        y0, x0 = top - strip.shape[0] - 4, left + i * cell + (cell - strip.shape[1]) // 2
        canvas[max(y0, 0) : y0 + strip.shape[0], x0 : x0 + strip.shape[1]] = strip[max(-y0, 0) :]
    cv2.putText(canvas, "ground truth", (4, top - 8), _FONT, 0.4, (90, 90, 90), 1, cv2.LINE_AA)
    return canvas


def curves_figure(curves: Mapping[str, tuple[Sequence[float], Sequence[float]]], width: int = 800,
                  height: int = 300, title: str = "") -> np.ndarray:
    """One panel per curve, stacked: ``{name: (steps, values)}`` -> RGB (len(curves) * height, width, 3).

    Each panel has its own y range (loss and mIoU differ in scale), min/max tick labels and the name.
    """
    if not curves:
        raise ValueError("curves_figure: no curves to draw")
    panels = []
    for k, (name, (steps, values)) in enumerate(curves.items()):
        steps_a, values_a = np.asarray(steps, np.float64), np.asarray(values, np.float64)
        panel = np.full((height, width, 3), 255, np.uint8)
        left, right, top, bottom = 70, 20, 30, 30
        cv2.rectangle(panel, (left, top), (width - right, height - bottom), (0, 0, 0), 1)
        label = f"{title} {name}".strip()
        cv2.putText(panel, label, (left, 20), _FONT, 0.55, (0, 0, 0), 1, cv2.LINE_AA)
        if len(values_a):
            x_lo, x_hi = steps_a.min(), max(steps_a.max(), steps_a.min() + 1)
            y_lo, y_hi = values_a.min(), values_a.max()
            if y_hi - y_lo < 1e-12:
                y_lo, y_hi = y_lo - 0.5, y_hi + 0.5
            xs = left + (steps_a - x_lo) / (x_hi - x_lo) * (width - left - right)
            ys = (height - bottom) - (values_a - y_lo) / (y_hi - y_lo) * (height - top - bottom)
            points = np.stack([xs, ys], axis=1).round().astype(np.int32).reshape(-1, 1, 2)
            colour = _LINE_COLOURS[k % len(_LINE_COLOURS)]
            cv2.polylines(panel, [points], False, colour, 2, cv2.LINE_AA)
            if len(points) == 1:
                cv2.circle(panel, tuple(int(v) for v in points[0, 0]), 3, colour, -1)
            for value, y in ((y_hi, top), (y_lo, height - bottom)):
                cv2.putText(panel, f"{value:.4g}", (4, y + 4), _FONT, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
            for step, x in ((x_lo, left), (steps_a.max(), width - right - 40)):
                cv2.putText(panel, f"{step:.0f}", (int(x), height - 10), _FONT, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
        panels.append(panel)
    return np.concatenate(panels, axis=0)
