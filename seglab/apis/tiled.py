"""Tiled inference for images larger than memory: read, predict and write one tile at a time.

Blending rule (center-crop ownership): tiles of ``tile`` x ``tile`` pixels start every
``stride = tile - overlap`` pixels (the last row/column of tiles is cut at the image border). Each tile is
predicted with its whole context, but only its *core* is kept: the tile minus ``overlap // 2`` pixels
on every side that borders another tile. The cores partition the image, so every output pixel comes
from exactly one tile, and no logits are ever averaged or held beyond one tile. A pixel's label equals
whole-image inference whenever the model's receptive field around it fits in ``overlap // 2`` pixels and
the tile origins (multiples of ``stride``) are multiples of the model's output stride; models with
global context (pooling pyramids, attention) see one tile at a time, as in slide inference.

Reading: ``.npy`` files (memory-mapped) and uncompressed TIFFs (``tifffile.memmap``) are read window by
window; every other format (PNG, JPEG, compressed TIFF...) has to be decoded whole first, so only the
model's memory is bounded for them. Outputs go to disk-backed ``np.memmap`` arrays.
"""

from __future__ import annotations

import os.path as osp
from collections.abc import Iterator, Sequence

import cv2
import numpy as np
from torch import nn

__all__ = ["ImageSource", "open_image", "tile_boxes", "tiled_predict"]


class ImageSource:
    """An image as ``(H, W, C)`` uint8 that can hand out BGR windows; ``lazy`` says whether it is read per window."""

    def __init__(self, array: np.ndarray, lazy: bool, rgb: bool, path: str = "") -> None:
        if array.ndim == 2:
            array = array[..., None]
        if array.ndim != 3 or array.dtype != np.uint8:
            raise ValueError(f"{path or 'image'}: tiled inference needs an (H, W, C) uint8 image, got "
                             f"{array.shape} {array.dtype}")
        self.array, self.lazy, self.rgb, self.path = array, lazy, rgb, path

    @property
    def shape(self) -> tuple[int, int, int]:
        """(H, W, C)."""
        return tuple(self.array.shape)  # type: ignore[return-value]

    def read(self, y1: int, y2: int, x1: int, x2: int) -> np.ndarray:
        """The window ``[y1:y2, x1:x2]`` as a contiguous BGR (h, w, 3) array (as cv2 reads), or (h, w, C)."""
        window = np.ascontiguousarray(self.array[y1:y2, x1:x2])
        if window.shape[2] == 1:
            window = np.repeat(window, 3, axis=2)
        elif window.shape[2] == 3 and self.rgb:
            window = np.ascontiguousarray(window[..., ::-1])
        return window


def open_image(path: str) -> ImageSource:
    """Open ``path`` for tiled reading: ``.npy`` (RGB (H, W, 3) uint8) and uncompressed TIFF lazily, else whole."""
    if not osp.isfile(path):
        raise FileNotFoundError(f"image not found: {path}")
    suffix = osp.splitext(path)[1].lower()
    if suffix == ".npy":
        return ImageSource(np.load(path, mmap_mode="r"), lazy=True, rgb=True, path=path)
    if suffix in (".tif", ".tiff"):
        try:
            import tifffile
        except ImportError:
            tifffile = None
        if tifffile is not None:
            try:
                return ImageSource(tifffile.memmap(path, mode="r"), lazy=True, rgb=True, path=path)
            except ValueError:  # compressed or tiled: tifffile cannot map it, decode whole below
                pass
    image = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if image is None:
        raise ValueError(f"cannot read image {path}")
    return ImageSource(image, lazy=False, rgb=False, path=path)


def tile_boxes(height: int, width: int, tile: int, overlap: int) -> Iterator[tuple[tuple[int, int, int, int], tuple[int, int, int, int]]]:
    """Yield ``(tile box, core box)`` as ``(y1, y2, x1, x2)`` in image coordinates, row by row.

    Tiles start every ``tile - overlap`` pixels; cores (the pixels a tile owns) partition the image.
    """
    if tile < 1 or not 0 <= overlap < tile:
        raise ValueError(f"tile must be >= 1 and 0 <= overlap < tile, got tile={tile}, overlap={overlap}")
    stride, half = tile - overlap, overlap // 2

    def spans(size: int) -> list[tuple[int, int, int, int]]:
        starts = list(range(0, max(size - overlap, 1), stride))
        out = []
        for i, start in enumerate(starts):
            end = min(start + tile, size)
            core_start = 0 if i == 0 else start + half
            core_end = size if i == len(starts) - 1 else starts[i + 1] + half
            out.append((start, end, core_start, core_end))
        return out

    for y1, y2, cy1, cy2 in spans(height):
        for x1, x2, cx1, cx2 in spans(width):
            yield (y1, y2, x1, x2), (cy1, cy2, cx1, cx2)


def tiled_predict(
    model: nn.Module,
    source: ImageSource,
    tile: int,
    overlap: int,
    pred_out: np.ndarray,
    vis_out: np.ndarray | None = None,
    palette: Sequence[Sequence[int]] | None = None,
    opacity: float = 0.8,
) -> None:
    """Predict ``source`` tile by tile into ``pred_out`` (H, W) and optionally an RGB overlay ``vis_out`` (H, W, 3).

    Outputs are usually ``np.memmap`` arrays, so memory stays bounded by one tile's image and logits.
    """
    from seglab.visualization import overlay

    from .inference import inference_model

    height, width, _ = source.shape
    if pred_out.shape[:2] != (height, width):
        raise ValueError(f"pred_out {pred_out.shape} does not match the image {(height, width)}")
    for (y1, y2, x1, x2), (cy1, cy2, cx1, cx2) in tile_boxes(height, width, tile, overlap):
        window = source.read(y1, y2, x1, x2)
        sample = inference_model(model, window)
        pred = sample.pred_sem_seg.data[0].cpu().numpy()
        core = (slice(cy1 - y1, cy2 - y1), slice(cx1 - x1, cx2 - x1))
        pred_out[cy1:cy2, cx1:cx2] = pred[core]
        if vis_out is not None:
            rgb = window[..., :3][..., ::-1]
            vis_out[cy1:cy2, cx1:cx2] = overlay(rgb[core], pred[core], palette or [], opacity)
        del sample, window, pred  # drop the tile before reading the next one

