"""PASCAL VOC 2012 + SBD ("VOCaug"): SBD's ``dataset/cls/*.mat`` -> ``VOC2012/SegmentationClassAug/*.png``.

SRC is the unpacked SBD release (``benchmark_RELEASE``, holding ``dataset/cls`` and
``dataset/{train,val}.txt``); DST is the VOCdevkit folder (holding ``VOC2012``). Also writes
``VOC2012/ImageSets/Segmentation/trainaug.txt`` (VOC train + SBD train + SBD val, minus VOC val:
10582 images for the official releases) and ``aug.txt`` (the SBD images in neither VOC list), as
MMSeg's ``voc_aug.py`` does. Reading ``.mat`` files needs scipy.
"""
from __future__ import annotations

import argparse
import os
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ._utils import find_files, imwrite, optional_import, read_lines, require_files, write_lines

NAME = "voc_aug"
AUG_LEN = 10582  # size of trainaug for the official VOC 2012 + SBD releases


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options: ``--nproc`` worker threads."""
    parser.add_argument("--nproc", type=int, default=1, help="worker threads for the .mat conversion")


def read_sbd_mat(path: str) -> np.ndarray:
    """SBD ``cls/<name>.mat`` -> (H, W) uint8 class ids (0 background, 1..20, 255 boundary/void)."""
    sio = optional_import("scipy.io", "scipy", "reading SBD .mat annotations")
    data = sio.loadmat(path, squeeze_me=True, struct_as_record=False)
    if "GTcls" not in data:
        raise ValueError(f"{path}: no 'GTcls' struct; is this an SBD dataset/cls annotation?")
    return np.asarray(data["GTcls"].Segmentation).astype(np.uint8)


def aug_lists(voc_train: Iterable[str], voc_val: Iterable[str], sbd_train: Iterable[str],
              sbd_val: Iterable[str]) -> tuple[list[str], list[str]]:
    """(trainaug, aug): VOC train + SBD minus VOC val; SBD minus both VOC lists (sorted, unique)."""
    voc_train, voc_val = set(voc_train), set(voc_val)
    sbd = set(sbd_train) | set(sbd_val)
    return sorted((voc_train | sbd) - voc_val), sorted(sbd - voc_train - voc_val)


def convert(src: str, dst: str, nproc: int = 1) -> dict[str, int]:
    """Write the SBD masks as PNGs and the trainaug/aug lists; counts of masks and list entries."""
    cls_dir = os.path.join(src, "dataset", "cls")
    mats = require_files(find_files(cls_dir, [".mat"]) if os.path.isdir(cls_dir) else [], ".mat files", cls_dir,
                         "SRC must be SBD's benchmark_RELEASE folder (with dataset/cls/*.mat)")
    voc = os.path.join(dst, "VOC2012")
    sets = os.path.join(voc, "ImageSets", "Segmentation")
    voc_train = read_lines(os.path.join(sets, "train.txt"))  # fail before the long conversion
    voc_val = read_lines(os.path.join(sets, "val.txt"))
    sbd_train = read_lines(os.path.join(src, "dataset", "train.txt"))
    sbd_val = read_lines(os.path.join(src, "dataset", "val.txt"))
    out_dir = os.path.join(voc, "SegmentationClassAug")

    def one(path: str) -> None:
        name = os.path.splitext(os.path.basename(path))[0]
        imwrite(os.path.join(out_dir, name + ".png"), read_sbd_mat(path))

    with ThreadPoolExecutor(max(1, nproc)) as pool:
        list(pool.map(one, mats))
    trainaug, aug = aug_lists(voc_train, voc_val, sbd_train, sbd_val)
    if len(trainaug) != AUG_LEN:
        print(f"note: trainaug has {len(trainaug)} images; the official VOC 2012 + SBD releases give {AUG_LEN}")
    write_lines(os.path.join(sets, "trainaug.txt"), trainaug)
    write_lines(os.path.join(sets, "aug.txt"), aug)
    return {"masks": len(mats), "trainaug": len(trainaug), "aug": len(aug)}
