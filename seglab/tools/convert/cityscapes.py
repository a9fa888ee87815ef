"""Cityscapes: ``gtFine/*_gtFine_polygons.json`` -> ``*_gtFine_labelTrainIds.png`` (19 train ids, 255 ignore).

Polygons are drawn in file order (later objects cover earlier ones) on an ignore (255) background, as
the official ``json2labelImg`` does: deleted objects and labels with a negative id are skipped, and
``<label>group`` falls back to ``<label>``. Also writes ``train.txt``/``val.txt``/``test.txt`` (one
``city/city_seq_frame`` stem per line) in DST.
"""
from __future__ import annotations

import argparse
import json
import os
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np

from ._utils import find_files, imwrite, require_files

NAME = "cityscapes"

# (name, id, trainId) from the Cityscapes label definitions (cityscapesScripts' labels.py table);
# trainId 255 = ignored in training and evaluation.
LABELS: list[tuple[str, int, int]] = [
    ("unlabeled", 0, 255), ("ego vehicle", 1, 255), ("rectification border", 2, 255), ("out of roi", 3, 255),
    ("static", 4, 255), ("dynamic", 5, 255), ("ground", 6, 255), ("road", 7, 0), ("sidewalk", 8, 1),
    ("parking", 9, 255), ("rail track", 10, 255), ("building", 11, 2), ("wall", 12, 3), ("fence", 13, 4),
    ("guard rail", 14, 255), ("bridge", 15, 255), ("tunnel", 16, 255), ("pole", 17, 5), ("polegroup", 18, 255),
    ("traffic light", 19, 6), ("traffic sign", 20, 7), ("vegetation", 21, 8), ("terrain", 22, 9), ("sky", 23, 10),
    ("person", 24, 11), ("rider", 25, 12), ("car", 26, 13), ("truck", 27, 14), ("bus", 28, 15),
    ("caravan", 29, 255), ("trailer", 30, 255), ("train", 31, 16), ("motorcycle", 32, 17), ("bicycle", 33, 18),
    ("license plate", -1, 255),
]
NAME_TO_LABEL = {name: (lid, tid) for name, lid, tid in LABELS}
ID_TO_TRAIN_ID = {lid: tid for _, lid, tid in LABELS if lid >= 0}


def polygons_to_train_ids(annotation: dict, where: str = "") -> np.ndarray:
    """A Cityscapes polygon annotation dict -> (imgHeight, imgWidth) uint8 train-id map."""
    h, w = int(annotation["imgHeight"]), int(annotation["imgWidth"])
    out = np.full((h, w), 255, np.uint8)
    for obj in annotation.get("objects", []):
        if obj.get("deleted"):
            continue
        label = obj["label"]
        if label not in NAME_TO_LABEL and label.endswith("group"):
            label = label[: -len("group")]
        if label not in NAME_TO_LABEL:
            raise ValueError(f"{where}: unknown Cityscapes label '{obj['label']}'")
        lid, tid = NAME_TO_LABEL[label]
        if lid < 0:
            continue
        pts = np.asarray(obj["polygon"], dtype=np.float64)
        if pts.ndim != 2 or len(pts) < 1:
            continue
        # Pixel-centre coordinates; cv2 fills the interior and the outline, like PIL's polygon().
        cv2.fillPoly(out, [np.round(pts).astype(np.int32).reshape(-1, 1, 2)], int(tid))
    return out


def _convert_one(json_path: str, out_path: str) -> None:
    with open(json_path) as f:
        ann = json.load(f)
    imwrite(out_path, polygons_to_train_ids(ann, json_path))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of this converter."""
    parser.add_argument("--gt-dir", default="gtFine", help="annotation folder under SRC (default: gtFine)")
    parser.add_argument("--nproc", type=int, default=4, help="parallel workers")


def convert(src: str, dst: str, gt_dir: str = "gtFine", nproc: int = 4) -> dict[str, int]:
    """Write the train-id PNGs under ``dst/<gt_dir>`` mirroring SRC, and the split lists; counts per split."""
    gt_root = os.path.join(src, gt_dir)
    polys = require_files(find_files(gt_root, ["_polygons.json"]), "*_polygons.json files", gt_root,
                          "SRC must be the Cityscapes root holding gtFine/ (gtFine_trainvaltest.zip unpacked)")
    jobs = []
    for p in polys:
        rel = os.path.relpath(p, gt_root)
        jobs.append((p, os.path.join(dst, gt_dir, rel.replace("_polygons.json", "_labelTrainIds.png"))))
    with ThreadPoolExecutor(max(1, nproc)) as pool:
        list(pool.map(lambda j: _convert_one(*j), jobs))
    counts = {}
    os.makedirs(dst, exist_ok=True)
    for split in ("train", "val", "test"):
        split_root = os.path.join(gt_root, split)
        stems = [os.path.relpath(p, split_root).replace("_gtFine_polygons.json", "")
                 for p in polys if p.startswith(split_root + os.sep)]
        with open(os.path.join(dst, f"{split}.txt"), "w") as f:
            f.writelines(s + "\n" for s in stems)
        counts[split] = len(stems)
    img_src, img_dst = os.path.join(src, "leftImg8bit"), os.path.join(dst, "leftImg8bit")
    if os.path.isdir(img_src) and not os.path.exists(img_dst):
        # The dataset expects images and labels under one root; link instead of copying 11 GB.
        os.symlink(os.path.abspath(img_src), img_dst, target_is_directory=True)
    return counts
