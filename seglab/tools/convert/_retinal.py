"""Shared step of the retinal-vessel converters (DRIVE, STARE, CHASE_DB1, HRF): write PNG pairs."""
from __future__ import annotations

import os

from ._utils import binary_mask, imread, imwrite

SPLIT_DIRS = {"train": "training", "val": "validation"}


def write_image(src: str, dst_root: str, split: str, stem: str) -> str:
    """Copy an image (any cv2 format) to ``images/<training|validation>/<stem>.png``."""
    return imwrite(os.path.join(dst_root, "images", SPLIT_DIRS[split], stem + ".png"), imread(src))


def write_annotation(src: str, dst_root: str, split: str, stem: str) -> str:
    """A 0/255 vessel drawing -> ``annotations/<training|validation>/<stem>.png`` with values 0/1."""
    return imwrite(os.path.join(dst_root, "annotations", SPLIT_DIRS[split], stem + ".png"),
                   binary_mask(imread(src)))
