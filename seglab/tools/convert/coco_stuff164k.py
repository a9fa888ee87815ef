"""COCO-Stuff 164k: ``annotations/{train2017,val2017}/*.png`` (stuffthingmaps, ids 0..181, 255 unlabelled)
-> ``*_labelTrainIds.png`` with the 171 used ids renumbered 0..170 (255 stays ignore)."""
from __future__ import annotations

import argparse
import os
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np

from ._utils import find_files, imread, imwrite, require_files

NAME = "coco_stuff164k"
# 0-based ids of the 11 COCO thing categories that were removed from the release (never in the maps).
UNUSED_IDS = (11, 25, 28, 29, 44, 65, 67, 68, 70, 82, 90)
USED_IDS = [i for i in range(182) if i not in UNUSED_IDS]  # 171 ids -> 0..170


def lookup_table() -> np.ndarray:
    """(256,) uint8: raw id -> train id; unused ids and 255 -> 255."""
    lut = np.full(256, 255, np.uint8)
    lut[USED_IDS] = np.arange(len(USED_IDS), dtype=np.uint8)
    return lut


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of this converter."""
    parser.add_argument("--nproc", type=int, default=4, help="parallel workers")


def convert(src: str, dst: str, nproc: int = 4) -> dict[str, int]:
    """Write DST/annotations/<split>/<name>_labelTrainIds.png for SRC's maps; counts per split."""
    lut = lookup_table()
    counts = {}
    jobs = []
    for split in ("train2017", "val2017"):
        folder = os.path.join(src, "annotations", split)
        maps = [p for p in find_files(folder, [".png"]) if "_labelTrainIds" not in p] if os.path.isdir(folder) else []
        require_files(maps, f"annotations/{split}/*.png", src,
                      "SRC must be the COCO-Stuff root with images/ and annotations/ (stuffthingmaps_trainval2017.zip)")
        counts[split] = len(maps)
        for p in maps:
            stem = os.path.splitext(os.path.basename(p))[0]
            jobs.append((p, os.path.join(dst, "annotations", split, stem + "_labelTrainIds.png")))

    def one(job: tuple[str, str]) -> None:
        raw = imread(job[0], cv2.IMREAD_UNCHANGED)
        if raw.ndim != 2:
            raise ValueError(f"{job[0]}: expected a single-channel id map, got shape {raw.shape}")
        imwrite(job[1], lut[raw])

    with ThreadPoolExecutor(max(1, nproc)) as pool:
        list(pool.map(one, jobs))
    img_src, img_dst = os.path.join(src, "images"), os.path.join(dst, "images")
    if os.path.isdir(img_src) and not os.path.exists(img_dst):
        os.symlink(os.path.abspath(img_src), img_dst, target_is_directory=True)  # images are unchanged
    return counts
