"""CHASE_DB1: ``CHASEDB1.zip`` -> MMSeg's layout; the first 60 files (sorted: 20 images with their two
annotations) are training, the rest validation. ``Image_01L.jpg`` -> ``images/training/Image_01L.png``,
``Image_01L_1stHO.png`` -> ``annotations/training/Image_01L_1stHO.png`` (0/1)."""
from __future__ import annotations

import argparse
import os
import tempfile

from ._retinal import write_annotation, write_image
from ._utils import find_files, materialise, require_files

NAME = "chase_db1"
TRAINING_LEN = 60


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of this converter."""
    parser.add_argument("--training-len", type=int, default=TRAINING_LEN, help="files (not images) for training")


def convert(src: str, dst: str, training_len: int = TRAINING_LEN) -> dict[str, int]:
    """Convert SRC (CHASEDB1.zip or its folder) into DST; image counts per split."""
    counts = {"train": 0, "val": 0}
    with tempfile.TemporaryDirectory() as tmp:
        folder = materialise(src, tmp)
        files = require_files(find_files(folder, [".jpg", ".png"]), "CHASE_DB1 images", src,
                              "SRC must be CHASEDB1.zip or its unpacked folder")
        files = sorted(files, key=os.path.basename)
        for i, p in enumerate(files):
            split = "train" if i < training_len else "val"
            stem = os.path.splitext(os.path.basename(p))[0]
            if p.lower().endswith(".jpg"):
                write_image(p, dst, split, stem)
                counts[split] += 1
            else:
                write_annotation(p, dst, split, stem)
    return counts
