"""PASCAL Context: ``trainval_merged.json`` -> ``VOC2010/SegmentationClassContext/*.png`` (60 labels).

SRC and DST are the VOCdevkit folder (holding ``VOC2010/JPEGImages``); the annotation file is
``--json`` (default ``SRC/VOC2010/trainval_merged.json``). Masks come from the Detail API
(``pip install git+https://github.com/zhanghang1989/detail-api.git#subdirectory=PythonAPI``, module
``detail``); the 459 raw categories are reduced to MMSeg's 60 (0 = background, 1..59 in the order of
``PascalContextDataset``), and ``ImageSets/SegmentationContext/{train,val}.txt`` are written, as
MMSeg's ``pascal_context.py`` does. A raw id outside the 60 raises, naming the image.
"""
from __future__ import annotations

import argparse
import os
from typing import Any

import numpy as np

from ._utils import imwrite, write_lines

NAME = "pascal_context"
# The 60 raw Detail category ids kept (sorted); label = position in this list.
RAW_IDS = np.array(sorted([
    0, 2, 259, 260, 415, 324, 9, 258, 144, 18, 19, 22, 23, 397, 25, 284, 158, 159, 416, 33, 162, 420, 454, 295,
    296, 427, 44, 45, 46, 308, 59, 440, 445, 31, 232, 65, 354, 424, 68, 326, 72, 458, 34, 207, 80, 355, 85, 347,
    220, 349, 360, 98, 187, 104, 105, 366, 189, 368, 113, 115,
]))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options: the merged annotation file."""
    parser.add_argument("--json", default=None, help="trainval_merged.json (default SRC/VOC2010/trainval_merged.json)")


def raw_to_label(mask: np.ndarray, where: str = "") -> np.ndarray:
    """(H, W) raw Detail category ids -> (H, W) uint8 labels 0..59; raises on ids outside the 60."""
    values = np.unique(mask)
    unknown = values[~np.isin(values, RAW_IDS)]
    if unknown.size:
        raise ValueError(f"{where}: category ids {unknown.tolist()[:10]} are not among PASCAL Context's 60")
    return np.searchsorted(RAW_IDS, mask).astype(np.uint8)


def load_detail_api() -> Any:
    """The ``Detail`` class of the Detail API, or an ImportError saying how to install it."""
    try:
        from detail import Detail
    except ImportError as exc:
        raise ImportError(
            "the pascal_context converter needs the PASCAL in Detail API (module 'detail'), which is not "
            "installed: pip install 'git+https://github.com/zhanghang1989/detail-api.git#subdirectory=PythonAPI'"
        ) from exc
    return Detail


def convert(src: str, dst: str, json: str | None = None) -> dict[str, int]:
    """Write the 60-label masks and the split lists; image counts per split."""
    json_path = json or os.path.join(src, "VOC2010", "trainval_merged.json")
    if not os.path.isfile(json_path):
        raise FileNotFoundError(f"{json_path} is missing; download trainval_merged.json and pass it with --json")
    img_dir = os.path.join(src, "VOC2010", "JPEGImages")
    detail_cls = load_detail_api()
    out_dir = os.path.join(dst, "VOC2010", "SegmentationClassContext")
    counts: dict[str, int] = {}
    for split in ("train", "val"):
        detail = detail_cls(json_path, img_dir, split)
        stems = []
        for img in detail.getImgs():
            stem = os.path.splitext(os.path.basename(img["file_name"]))[0]
            imwrite(os.path.join(out_dir, stem + ".png"), raw_to_label(np.asarray(detail.getMask(img)), img["file_name"]))
            stems.append(stem)
        write_lines(os.path.join(dst, "VOC2010", "ImageSets", "SegmentationContext", f"{split}.txt"), sorted(stems))
        counts[split] = len(stems)
    if os.path.abspath(src) != os.path.abspath(dst) and not os.path.exists(os.path.join(dst, "VOC2010", "JPEGImages")):
        os.symlink(os.path.abspath(img_dir), os.path.join(dst, "VOC2010", "JPEGImages"))
    return counts
