"""Shared step of the ISPRS converters (Potsdam, Vaihingen): tile big orthophotos and colour labels."""
from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Callable

import cv2
import numpy as np

from ._utils import colour_to_index, find_files, imread, imwrite, materialise, tile_boxes

# ISPRS colour code (RGB) -> index, in MMSeg's order; 0 (black = boundary, and unknown colours) is
# what the datasets drop through reduce_zero_label=True.
PALETTE = [
    (0, 0, 0),          # 0 boundary / unlabelled -> ignored
    (255, 255, 255),    # 1 impervious surfaces
    (0, 0, 255),        # 2 building
    (0, 255, 255),      # 3 low vegetation
    (0, 255, 0),        # 4 tree
    (255, 255, 0),      # 5 car
    (255, 0, 0),        # 6 clutter / background
]


def label_to_index(bgr: np.ndarray) -> np.ndarray:
    """ISPRS colour label as read by cv2 (H, W, 3) BGR -> (H, W) uint8 0..6."""
    return colour_to_index(bgr[:, :, ::-1], PALETTE, default=0)


def collect(src: str, tmp: str, image_re: str, label_re: str) -> tuple[dict[str, str], dict[str, str]]:
    """Map tile id -> path for images and labels found in SRC (a folder; zips in it are unpacked)."""
    roots = [src] if os.path.isdir(src) else []
    entries = sorted(os.listdir(src)) if os.path.isdir(src) else [src]
    for name in entries:
        path = os.path.join(src, name) if os.path.isdir(src) else name
        if path.lower().endswith((".zip", ".tar", ".tar.gz", ".tgz")):
            roots.append(materialise(path, tmp))
    images: dict[str, str] = {}
    labels: dict[str, str] = {}
    for root in roots:
        for p in find_files(root, [".tif", ".tiff"]):
            if "gts_for_participants" in p:  # Vaihingen's non-eroded labels share the image names
                continue
            base = os.path.basename(p)
            m = re.match(label_re, base)
            if m:
                labels.setdefault(m.group(1), p)
                continue
            m = re.match(image_re, base)
            if m:
                images.setdefault(m.group(1), p)
    return images, labels


def tile_pair(img_path: str, label_path: str, dst: str, split: str, prefix: str, size: int, stride: int) -> int:
    """Write ``img_dir/<split>/<prefix>_x0_y0_x1_y1.png`` and the same name under ``ann_dir``; tile count."""
    img = imread(img_path, cv2.IMREAD_COLOR)
    label = label_to_index(imread(label_path, cv2.IMREAD_COLOR))
    if img.shape[:2] != label.shape:
        raise ValueError(f"{img_path} is {img.shape[:2]} but its label {label_path} is {label.shape}")
    boxes = tile_boxes(img.shape[0], img.shape[1], size, stride)
    for x0, y0, x1, y1 in boxes:
        name = f"{prefix}_{x0}_{y0}_{x1}_{y1}.png"
        imwrite(os.path.join(dst, "img_dir", split, name), img[y0:y1, x0:x1])
        imwrite(os.path.join(dst, "ann_dir", split, name), label[y0:y1, x0:x1])
    return len(boxes)


def convert_tiles(src: str, dst: str, image_re: str, label_re: str, train_ids: set[str], size: int,
                  stride: int, prefix_of: Callable[[str], str] = lambda tile_id: tile_id) -> dict[str, int]:
    """Tile every tile id that has both an image and a label; ids in ``train_ids`` -> train, others -> val."""
    counts = {"train": 0, "val": 0}
    with tempfile.TemporaryDirectory() as tmp:
        images, labels = collect(src, tmp, image_re, label_re)
        both = sorted(set(images) & set(labels))
        if not both:
            raise FileNotFoundError(
                f"no image/label pairs found in {src} (images: {len(images)}, labels: {len(labels)}); SRC must "
                "hold the ISPRS zips (or their unpacked .tif files) named as in the official download")
        unpaired = sorted(set(images) ^ set(labels))
        if unpaired:
            print(f"skipping tiles without both an image and a label: {', '.join(unpaired)}")
        for tile_id in both:
            split = "train" if tile_id in train_ids else "val"
            counts[split] += tile_pair(images[tile_id], labels[tile_id], dst, split, prefix_of(tile_id), size, stride)
    return counts
