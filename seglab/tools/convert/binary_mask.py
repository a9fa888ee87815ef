"""Binary masks of any encoding (0/255, 0/1, anti-aliased 0..255) -> 0/1 index PNGs.

Every mask file under SRC (recursively; png, bmp, tif, gif, jpg) becomes ``DST/<same path>.png``
with 1 where the mask value is above ``--threshold`` (default 0: any non-zero value) and 0 elsewhere.
Multi-channel masks use their largest channel. Use it for 0/255 masks, whose 255 would otherwise be
read as ``ignore_index``; then ``classes=('background', 'foreground')``.
"""
from __future__ import annotations

import argparse
import os

import cv2
import numpy as np

from ._utils import find_files, imread, imwrite, require_files

NAME = "binary-mask"
MASK_SUFFIXES = [".png", ".bmp", ".tif", ".tiff", ".gif", ".jpg", ".jpeg"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``--threshold T``: values > T become 1 (default 0)."""
    parser.add_argument("--threshold", type=float, default=0.0,
                        help="mask values above this become 1, the rest 0 (default 0: any non-zero value)")


def to_binary(mask: np.ndarray, threshold: float = 0.0) -> np.ndarray:
    """(H, W[, C]) mask -> (H, W) uint8: 1 where the (largest channel's) value is above ``threshold``."""
    values = mask if mask.ndim == 2 else mask.max(axis=2)
    return (values > threshold).astype(np.uint8)


def convert(src: str, dst: str, threshold: float = 0.0) -> dict[str, int]:
    """Write a 0/1 PNG into DST for every mask under SRC; counts of masks and foreground pixels."""
    paths = require_files(find_files(src, MASK_SUFFIXES), "mask files (png, bmp, tif, gif, jpg)", src,
                          "SRC must be the folder of masks")
    counts = {"masks": 0, "foreground_pixels": 0, "pixels": 0, "empty_masks": 0}
    for path in paths:
        binary = to_binary(imread(path, cv2.IMREAD_UNCHANGED), threshold)
        rel = os.path.splitext(os.path.relpath(path, src))[0] + ".png"
        imwrite(os.path.join(dst, rel), binary)
        fg = int(binary.sum())
        counts["masks"] += 1
        counts["foreground_pixels"] += fg
        counts["pixels"] += binary.size
        counts["empty_masks"] += fg == 0
    return counts
