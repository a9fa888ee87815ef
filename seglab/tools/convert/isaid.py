"""iSAID: ``{train,val,test}/images/*.zip`` and ``{train,val}/Semantic_masks/*.zip`` -> 896x896 patches.

Images and colour masks (``<id>_instance_color_RGB.png``) are cut into ``--patch-size`` windows
every ``patch-size - overlap`` px (896 and 384 by default, as MMSeg's ``isaid.py``), the last
row/column shifted back to end at the border; a side shorter than a patch is padded (image 0,
mask 255). Masks are mapped from iSAID's colours to 0..15 (unknown colours -> 0, background).
Names: ``img_dir/<split>/<id>_<y0>_<y1>_<x0>_<x1>.png`` and
``ann_dir/<split>/<id>_<y0>_<y1>_<x0>_<x1>_instance_color_RGB.png``; test images are copied whole.
"""
from __future__ import annotations

import argparse
import os
import shutil
import tempfile

import cv2
import numpy as np

from ._utils import colour_to_index, extract, find_files, imread, imwrite, tile_boxes

NAME = "isaid"
# iSAID colour code (RGB), index = class: background, ship, storage tank, baseball diamond, tennis
# court, basketball court, ground track field, bridge, large vehicle, small vehicle, helicopter,
# swimming pool, roundabout, soccer ball field, plane, harbor.
PALETTE = [
    (0, 0, 0), (0, 0, 63), (0, 63, 63), (0, 63, 0), (0, 63, 127), (0, 63, 191), (0, 63, 255), (0, 127, 63),
    (0, 127, 127), (0, 0, 127), (0, 0, 191), (0, 0, 255), (0, 191, 127), (0, 127, 191), (0, 127, 255),
    (0, 100, 155),
]
MASK_SUFFIX = "_instance_color_RGB"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options: patch size and overlap."""
    parser.add_argument("--patch-size", type=int, default=896, help="square patch side (px)")
    parser.add_argument("--overlap", type=int, default=384, help="overlap of neighbouring patches (px)")


def pad_to(arr: np.ndarray, size: int, value: int) -> np.ndarray:
    """Pad bottom/right so both sides are at least ``size``."""
    h, w = arr.shape[:2]
    if h >= size and w >= size:
        return arr
    return cv2.copyMakeBorder(arr, 0, max(0, size - h), 0, max(0, size - w), cv2.BORDER_CONSTANT,
                              value=(value, value, value, value))


def cut(arr: np.ndarray, stem: str, suffix: str, folder: str, size: int, overlap: int) -> int:
    """Write the patches of one image/mask as ``<stem>_<y0>_<y1>_<x0>_<x1><suffix>.png``; their count."""
    boxes = tile_boxes(arr.shape[0], arr.shape[1], size, size - overlap)
    for x0, y0, x1, y1 in boxes:
        imwrite(os.path.join(folder, f"{stem}_{y0}_{y1}_{x0}_{x1}{suffix}.png"), arr[y0:y1, x0:x1])
    return len(boxes)


def _unpacked_pngs(folder: str, tmp: str) -> list[str]:
    """PNG files in ``folder``: unpacked from its zips, or the loose ones."""
    zips = find_files(folder, [".zip"]) if os.path.isdir(folder) else []
    for z in zips:
        extract(z, tmp)
    return find_files(tmp if zips else folder, [".png"]) if os.path.isdir(folder) else []


def convert(src: str, dst: str, patch_size: int = 896, overlap: int = 384) -> dict[str, int]:
    """Cut train/val images and masks into patches, copy test images; patch (image) counts per split."""
    if not 0 <= overlap < patch_size:
        raise ValueError(f"overlap must be in [0, patch_size), got {overlap} for patch size {patch_size}")
    counts: dict[str, int] = {}
    for split in ("train", "val", "test"):
        if not os.path.isdir(os.path.join(src, split)):
            if split == "test":
                continue
            raise FileNotFoundError(f"{os.path.join(src, split)} is missing; SRC must hold iSAID's train/ and val/ "
                                    "folders (each with images/*.zip and Semantic_masks/*.zip)")
        with tempfile.TemporaryDirectory() as tmp:
            images = [p for p in _unpacked_pngs(os.path.join(src, split, "images"), os.path.join(tmp, "img"))
                      if MASK_SUFFIX not in p and "_instance_id_RGB" not in p]
            if not images:
                raise FileNotFoundError(f"no images in {os.path.join(src, split, 'images')} (zips or .png files)")
            img_out = os.path.join(dst, "img_dir", split)
            if split == "test":
                os.makedirs(img_out, exist_ok=True)
                for p in images:
                    shutil.copyfile(p, os.path.join(img_out, os.path.basename(p)))
                counts[split] = len(images)
                continue
            masks = {os.path.basename(p)[: -len(MASK_SUFFIX + ".png")]: p
                     for p in _unpacked_pngs(os.path.join(src, split, "Semantic_masks"), os.path.join(tmp, "lab"))
                     if p.endswith(MASK_SUFFIX + ".png")}
            counts[split] = 0
            for p in images:
                stem = os.path.splitext(os.path.basename(p))[0]
                if stem not in masks:
                    raise FileNotFoundError(f"{p} has no mask {stem}{MASK_SUFFIX}.png in {split}/Semantic_masks")
                img = imread(p, cv2.IMREAD_COLOR)
                label = colour_to_index(imread(masks[stem], cv2.IMREAD_COLOR)[:, :, ::-1], PALETTE, default=0)
                if img.shape[:2] != label.shape:
                    raise ValueError(f"{p} is {img.shape[:2]} but its mask {masks[stem]} is {label.shape}")
                img, label = pad_to(img, patch_size, 0), pad_to(label, patch_size, 255)
                counts[split] += cut(img, stem, "", img_out, patch_size, overlap)
                cut(label, stem, MASK_SUFFIX, os.path.join(dst, "ann_dir", split), patch_size, overlap)
    return counts
