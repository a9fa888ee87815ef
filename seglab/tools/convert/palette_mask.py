"""Colour-coded RGB masks -> index PNGs, with the palette/classes JSON that was used.

Every mask under SRC (recursively) becomes ``DST/<same path>.png`` holding class indices.
``--palette auto`` (default) collects the colours of all masks: black (0, 0, 0) first when present
(named 'background'), then the others in RGB order ('class_1', ...). ``--palette FILE.json`` reads
``{"classes": [...], "palette": [[r, g, b], ...]}`` (or a bare list of colours); a mask colour that
is not listed fails naming the file. ``DST/palette.json`` records the classes and colours used, so
the config can say ``classes=..., palette=...``.
"""
from __future__ import annotations

import argparse
import json
import os

import cv2
import numpy as np

from seglab.datasets.transforms.color_lookup import ColorLookup

from ._utils import find_files, imread, imwrite, require_files

NAME = "palette-mask"
MASK_SUFFIXES = [".png", ".bmp", ".tif", ".tiff", ".gif"]
MAX_COLOURS = 255  # class ids are uint8 and 255 stays free for ignore_index


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``--palette auto|FILE.json``."""
    parser.add_argument("--palette", default="auto",
                        help="'auto' (collect the colours of all masks) or a JSON file with classes and palette")


def read_rgb(path: str) -> np.ndarray:
    """A mask as (H, W, 3) RGB uint8 (grey masks are repeated over the three channels)."""
    img = imread(path, cv2.IMREAD_UNCHANGED)
    if img.dtype != np.uint8:
        raise ValueError(f"{path}: a colour-coded mask must be 8-bit, got {img.dtype}")
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    elif img.shape[2] == 4:
        img = cv2.cvtColor(img, cv2.COLOR_BGRA2RGB)
    else:
        img = cv2.cvtColor(img[..., :3], cv2.COLOR_BGR2RGB)
    return img


def collect_palette(images: list[np.ndarray], source: str) -> tuple[list[str], list[list[int]]]:
    """Classes and palette from the colours present: black first ('background'), then RGB order."""
    colours: set[tuple[int, int, int]] = set()
    for rgb in images:
        packed = np.unique((rgb[..., 0].astype(np.int64) << 16) | (rgb[..., 1].astype(np.int64) << 8) | rgb[..., 2])
        colours.update((int(k) >> 16, (int(k) >> 8) & 255, int(k) & 255) for k in packed)
        if len(colours) > MAX_COLOURS:
            raise ValueError(
                f"{source}: the masks hold more than {MAX_COLOURS} colours - lossy (JPEG) or anti-aliased masks? "
                "save the masks losslessly with one colour per class, or give --palette FILE.json")
    ordered = sorted(colours, key=lambda c: (c != (0, 0, 0), c))
    classes = ["background" if c == (0, 0, 0) else f"class_{i}" for i, c in enumerate(ordered)]
    return classes, [list(c) for c in ordered]


def load_palette(path: str) -> tuple[list[str], list[list[int]]]:
    """Classes and palette from a JSON file (``{"classes", "palette"}`` or a list of colours)."""
    with open(path) as f:
        data = json.load(f)
    palette = data.get("palette") if isinstance(data, dict) else data
    if not isinstance(palette, list) or not palette:
        raise ValueError(f"{path}: expected {{\"classes\": [...], \"palette\": [[r, g, b], ...]}} or a list of colours")
    classes = data.get("classes") if isinstance(data, dict) else None
    classes = list(classes) if classes else [f"class_{i}" for i in range(len(palette))]
    if len(classes) != len(palette):
        raise ValueError(f"{path}: {len(classes)} classes but {len(palette)} palette colours; give one colour per class")
    return [str(c) for c in classes], [[int(v) for v in c] for c in palette]


def convert(src: str, dst: str, palette: str = "auto") -> dict[str, int]:
    """Write an index PNG into DST for every colour mask under SRC and ``DST/palette.json``; counts."""
    paths = require_files(find_files(src, MASK_SUFFIXES), "mask files (png, bmp, tif, gif)", src,
                          "SRC must be the folder of colour-coded masks")
    if palette == "auto":
        classes, colours = collect_palette([read_rgb(p) for p in paths], src)
    else:
        classes, colours = load_palette(palette)
    lookup = ColorLookup(colours, owner="palette-mask")
    for path in paths:
        index = lookup(read_rgb(path), path)
        imwrite(os.path.join(dst, os.path.splitext(os.path.relpath(path, src))[0] + ".png"), index)
    os.makedirs(dst, exist_ok=True)
    with open(os.path.join(dst, "palette.json"), "w") as f:
        json.dump(dict(classes=classes, palette=colours), f, indent=1)
    return {"masks": len(paths), "classes": len(classes)}
