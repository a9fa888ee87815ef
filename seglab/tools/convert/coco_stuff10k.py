"""COCO-Stuff 10k: ``annotations/*.mat`` (key ``S``) -> ``annotations/{train2014,test2014}/*_labelTrainIds.png``.

SRC holds ``images/*.jpg``, ``annotations/*.mat`` and ``imageLists/{train,test}.txt``. The raw ids
(0 unlabelled, 1..182 with 11 unused "thing" ids) are renumbered to 0..171 as MMSeg's
``coco_stuff10k.py`` does (0 stays 0, so configs use ``reduce_zero_label=True``: 171 classes). Ids
that the official list does not use are written as 0 (unlabelled, ignored) instead of being kept
(MMSeg keeps them, where they would collide with real classes). Images are copied to
``images/{train2014,test2014}``. Reading ``.mat`` files needs scipy.
"""
from __future__ import annotations

import argparse
import os
import shutil
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ._utils import imwrite, optional_import, read_lines

NAME = "coco_stuff10k"
COCO_LEN = 10000
# Raw 1-based ids with no class in COCO-Stuff (unused "thing" ids of the COCO 2014 id list).
UNUSED_IDS = (12, 26, 29, 30, 45, 66, 68, 69, 71, 83, 91)
SPLITS = (("train", "train2014"), ("test", "test2014"))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options: ``--nproc`` worker threads."""
    parser.add_argument("--nproc", type=int, default=1, help="worker threads")


def lookup_table() -> np.ndarray:
    """(256,) uint8: raw id -> train id (0 -> 0, used ids 1..182 -> 1..171 in order, the rest -> 0)."""
    lut = np.zeros(256, np.uint8)
    used = [i for i in range(1, 183) if i not in UNUSED_IDS]
    lut[used] = np.arange(1, len(used) + 1)
    return lut


def read_mat_labels(path: str) -> np.ndarray:
    """A COCO-Stuff 10k ``.mat`` annotation -> (H, W) uint8 raw ids (its ``S`` array)."""
    sio = optional_import("scipy.io", "scipy", "reading COCO-Stuff 10k .mat annotations")
    data = sio.loadmat(path)
    if "S" not in data:
        raise ValueError(f"{path}: no 'S' label array; is this a COCO-Stuff 10k annotation?")
    return np.asarray(data["S"]).astype(np.uint8)


def convert(src: str, dst: str, nproc: int = 1) -> dict[str, int]:
    """Copy the images and write the renumbered label PNGs per split; image counts per split."""
    lut = lookup_table()
    lists = {out: read_lines(os.path.join(src, "imageLists", f"{split}.txt")) for split, out in SPLITS}
    total = sum(len(v) for v in lists.values())
    if total != COCO_LEN:
        print(f"note: the image lists hold {total} images; the official release has {COCO_LEN}")

    def one(job: tuple[str, str]) -> None:
        out, name = job
        image = os.path.join(src, "images", name + ".jpg")
        target = os.path.join(dst, "images", out, name + ".jpg")
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if os.path.abspath(image) != os.path.abspath(target):
            shutil.copyfile(image, target)
        raw = read_mat_labels(os.path.join(src, "annotations", name + ".mat"))
        imwrite(os.path.join(dst, "annotations", out, name + "_labelTrainIds.png"), lut[raw])

    jobs = [(out, name) for out, names in lists.items() for name in names]
    with ThreadPoolExecutor(max(1, nproc)) as pool:
        list(pool.map(one, jobs))
    return {out: len(names) for out, names in lists.items()}
